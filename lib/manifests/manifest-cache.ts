// The manifest cache: an in-memory LRU in front of the on-disk store
// (disk-store.ts, layout in paths.ts), per upstream key and repository.
//
//   get(upstream, repo, digest) ─▶ memory ─miss─▶ disk ─verify─▶ memory
//                                                      └corrupt─▶ delete, miss
//   put(upstream, repo, manifest) ─verify─▶ memory, then disk
//   recordTag / tag: the last digest (and media type) the upstream named for
//   (tag, client's Accept), with when it said so: the offline fallback.
//
// Digest-addressed manifests are immutable, so a verified entry never goes
// stale; whom it may be served to is the handler's business (grants).
// Only sha256 digests are cached. Disk operations on one key run in order;
// put() and recordTag() say when theirs finished, and close() waits for all.
//
// Bounds: manifests in memory by bytes; tag records by count (tag-records.ts);
// and, once the blob cache attaches its budget (DiskTenant), every file here
// counts against --cache-max-size together with the blobs, in one LRU order.
// A file evicted from disk is dropped from memory too, so the next answer
// from the upstream writes it again.
import { constants } from 'node:fs'
import { isSha256Digest } from '../registry/grammar.js'
import { access, mkdir } from 'node:fs/promises'
import { LRUCache } from 'lru-cache'
import { DIR_MODE } from '../cache/paths.js'
import type { ChargedFile, DiskBudget, DiskTenant } from '../cache/types.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import {
  MAX_MANIFEST_SIZE,
  readManifest,
  removeManifest,
  sha256Hex,
  type StoredManifest,
  sweepTmp,
  type TagRecord,
  writeManifest,
} from './disk-store.js'
import { type ManifestMetrics, manifestMetrics } from './manifest-metrics.js'
import { ManifestPaths } from './paths.js'
import { type FoundTag, scanManifests } from './rebuild.js'
import { TagRecords } from './tag-records.js'

export type { StoredManifest, TagRecord } from './disk-store.js'
export { MAX_MANIFEST_SIZE } from './disk-store.js'
export { MAX_TAG_RECORDS } from './tag-records.js'

export interface ManifestCacheOptions {
  /** The --cache-dir; manifests go under <dir>/manifests. */
  dir: string
  /** ms within which a tag's last resolution may be served when the upstream fails; 0 = never. */
  staleIfError: number
  /** Bytes of manifests kept in memory; default 64 MiB. */
  memoryBytes?: number
  /** Tag records kept, in memory and on disk; default MAX_TAG_RECORDS. */
  maxTagRecords?: number
  log: Logger
  metrics: Metrics
}

export class ManifestCache implements DiskTenant {
  readonly staleIfError: number
  readonly #paths: ManifestPaths
  readonly #log: Logger
  readonly #metrics: ManifestMetrics
  readonly #memory: LRUCache<string, StoredManifest>
  readonly #tags: TagRecords
  #budget: DiskBudget | undefined
  readonly #reads = new Map<string, Promise<StoredManifest | undefined>>()
  /** Disk operations in flight, by the key they touch: each runs after the previous one on its key. */
  readonly #writes = new Map<string, Promise<void>>()
  readonly #warned = new Set<string>()
  #writable = true

  static async open(opts: ManifestCacheOptions): Promise<ManifestCache> {
    const cache = new ManifestCache(opts)
    await cache.#init()
    return cache
  }

  private constructor(opts: ManifestCacheOptions) {
    this.staleIfError = opts.staleIfError
    this.#paths = new ManifestPaths(opts.dir)
    this.#log = opts.log.child({ component: 'manifest-cache' })
    this.#metrics = manifestMetrics(opts.metrics)
    this.#tags = new TagRecords(
      {
        paths: this.#paths,
        budget: () => this.#budget,
        writable: () => this.#writable,
        background: (key, op, msg) => this.#background(key, op, msg),
        warnOnce: (key, msg, fields) => this.#warnOnce(key, msg, fields),
      },
      opts.maxTagRecords,
    )
    this.#memory = new LRUCache({
      maxSize: opts.memoryBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (m) => m.body.length + 256,
    })
    opts.metrics.collected('crproxy_manifest_cache_memory_bytes', 'Bytes of manifests held in memory', () => this.#memory.calculatedSize)
    opts.metrics.collected('crproxy_manifest_tag_records', 'Tag records held (the offline fallback), in memory and on disk', () => this.#tags.size, { aggregate: 'max' })
  }

  /** Start-up (DiskTenant): the files on disk; tag records beyond their bound are deleted here. */
  async scan(): Promise<ChargedFile[]> {
    const found = await scanManifests(this.#paths)
    found.sort((a, b) => a.lastUsed - b.lastUsed)
    const out: ChargedFile[] = []
    const tags: FoundTag[] = []
    for (const f of found) {
      if (f.kind === 'tag') {
        tags.push(f)
        continue
      }
      const key = `${f.upstream} ${f.repo} ${f.digest}`
      out.push({ key: manifestCharge(key), size: f.size, lastUsed: f.lastUsed, evict: () => this.#evictManifest(key) })
    }
    return [...out, ...this.#tags.adopt(tags)]
  }

  /** From now on every file written here is charged to the blob cache's bound (DiskTenant). */
  attach(budget: DiskBudget): void {
    this.#budget = budget
  }

  async #init(): Promise<void> {
    try {
      await mkdir(this.#paths.tmp, { recursive: true, mode: DIR_MODE })
      await access(this.#paths.tmp, constants.W_OK)
      // Writers finish in milliseconds; anything this old was left by a crash.
      const swept = await sweepTmp(this.#paths, 10 * 60_000)
      if (swept) this.#log.info('manifest cache: stale temp files removed', { files: swept })
    } catch (err) {
      this.#writable = false
      this.#log.warn('manifest cache dir not usable: caching in memory only', { dir: this.#paths.root, code: codeOf(err) })
    }
  }

  /** A verified manifest of this repository, or undefined. */
  async get(upstream: string, repo: string, digest: string): Promise<StoredManifest | undefined> {
    if (!isSha256Digest(digest)) return undefined
    const key = `${upstream} ${repo} ${digest}`
    const inMemory = this.#memory.get(key)
    if (inMemory) {
      this.#budget?.touch(manifestCharge(key))
      return inMemory
    }
    const dir = this.#paths.repo(upstream, repo)
    if (!dir) return undefined
    // Concurrent misses (a restart, many nodes pulling) share one disk read.
    let reading = this.#reads.get(key)
    if (!reading) {
      reading = this.#readFromDisk(dir, key, digest).finally(() => this.#reads.delete(key))
      this.#reads.set(key, reading)
    }
    return reading
  }

  async #readFromDisk(dir: string, key: string, digest: string): Promise<StoredManifest | undefined> {
    let found: Awaited<ReturnType<typeof readManifest>>
    try {
      found = await readManifest(this.#paths, dir, digest)
    } catch (err) {
      this.#warnOnce(codeOf(err), 'manifest cache read failed: treated as a miss', { digest, code: codeOf(err) })
      return undefined
    }
    if (found === null) {
      this.#budget?.release(manifestCharge(key)) // deleted behind our back
      return undefined
    }
    if (found === 'corrupt') {
      this.#metrics.corrupt()
      this.#log.warn('cached manifest failed verification: deleted', { digest })
      this.#removeManifest(key, dir, digest, 'manifest cache delete failed')
      return undefined
    }
    this.#memory.set(key, found.manifest)
    // Charged again: also what another process sharing the directory wrote.
    this.#charge(manifestCharge(key), found.bytes, () => this.#evictManifest(key))
    return found.manifest
  }

  /**
   * Stores a manifest after checking that its bytes are its digest: null if
   * they are not (or it is too large); otherwise it is in memory at once and
   * the promise resolves when it is on disk (it never rejects: a disk error
   * is logged and the manifest stays cached in memory only).
   */
  put(upstream: string, repo: string, m: StoredManifest): Promise<void> | null {
    if (!isSha256Digest(m.digest) || m.body.length > MAX_MANIFEST_SIZE) return null
    if (sha256Hex(m.body) !== m.digest.slice('sha256:'.length)) return null
    const key = `${upstream} ${repo} ${m.digest}`
    const known = this.#memory.get(key)
    if (known && known.mediaType === m.mediaType) {
      this.#budget?.touch(manifestCharge(key))
      return this.#writes.get(key) ?? Promise.resolve()
    }
    this.#memory.set(key, m)
    this.#metrics.stored()
    const dir = this.#paths.repo(upstream, repo)
    if (!dir || !this.#writable) return Promise.resolve()
    return this.#background(
      key,
      async () => {
        const bytes = await writeManifest(this.#paths, dir, m)
        if (!this.#charge(manifestCharge(key), bytes, () => this.#evictManifest(key))) {
          await removeManifest(this.#paths, dir, m.digest) // larger than the whole bound
        }
      },
      'manifest cache write failed',
    )
  }

  /** The upstream said just now: this tag, asked for with this Accept, is this digest. Resolves once on disk. */
  recordTag(upstream: string, repo: string, tag: string, acceptKey: string, r: Omit<TagRecord, 'resolvedAt'>): Promise<void> {
    if (!isSha256Digest(r.digest)) return Promise.resolve()
    return this.#tags.record(upstream, repo, tag, acceptKey, r)
  }

  /** The last resolution of (tag, Accept), from memory or disk. */
  tag(upstream: string, repo: string, tag: string, acceptKey: string): Promise<TagRecord | undefined> {
    return this.#tags.get(upstream, repo, tag, acceptKey)
  }

  /** Charges files to the blob cache's bound; true when there is none. */
  #charge(key: string, bytes: number, evict: () => void): boolean {
    return this.#budget ? this.#budget.charge(key, bytes, evict) : true
  }

  /** The budget pushed a manifest out: its files go, and its copy in memory with them. */
  #evictManifest(key: string): void {
    this.#memory.delete(key)
    const [upstream = '', repo = '', digest = ''] = key.split(' ')
    const dir = this.#paths.repo(upstream, repo)
    if (dir) this.#removeManifest(key, dir, digest, 'manifest cache eviction failed')
  }

  #removeManifest(key: string, dir: string, digest: string, msg: string): void {
    void this.#background(
      key,
      async () => {
        await removeManifest(this.#paths, dir, digest)
        // After the files: a rewrite queued before this delete charged them again.
        this.#budget?.release(manifestCharge(key))
      },
      msg,
    )
  }

  /** Runs a disk operation after the previous one on the same key (a delete never overtakes a rewrite). */
  #background(key: string, op: () => Promise<void>, msg: string): Promise<void> {
    const run: Promise<void> = (this.#writes.get(key) ?? Promise.resolve())
      .then(op)
      .catch((err: unknown) => this.#warnOnce(codeOf(err), msg, { code: codeOf(err) }))
      .finally(() => {
        if (this.#writes.get(key) === run) this.#writes.delete(key)
      })
    this.#writes.set(key, run)
    return run
  }

  #warnOnce(key: string, msg: string, fields: Record<string, string>): void {
    if (this.#warned.has(key)) return this.#log.debug(msg, fields)
    this.#warned.add(key)
    this.#log.warn(msg, fields)
  }

  /** Resolves once the disk writes started so far (and any they lead to) are done. */
  async settled(): Promise<void> {
    while (this.#writes.size) await Promise.all([...this.#writes.values()])
  }

  async close(): Promise<void> {
    await this.settled()
  }
}

/** The key in the blob cache's budget: its own are digests, so the two never meet. */
function manifestCharge(key: string): string {
  return `manifest ${key}`
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err)
}
