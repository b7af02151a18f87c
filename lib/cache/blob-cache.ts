// The blob cache: a content-addressed store on disk beside the upstream, with
// the same response shape. How the /v2 blob handler uses it:
//
//   lookup(digest, source) ─hit─▶ createReadStream(digest, range?) ─▶ client
//        │miss
//        ▼
//   claim(digest, source) ─writer──▶ upstream GET ─200─▶ fill(body, size) ─▶ client
//        │                              └other─▶ abandon(), pass upstream through
//        ├─follower─▶ body (tails the fill, verified) ─▶ client
//        └─null─────▶ proxy uncached (cache unwritable, not a sha256 digest…)
//
// `source` names the upstream the request was routed to. A blob is a hit only
// for an upstream that once delivered it itself, verified (origins.ts); for
// any other upstream it is a miss, filled from that upstream. Fills are per
// upstream and digest, so one upstream can neither feed nor stall another's
// pulls. Single flight is the temp file's O_EXCL create (fill.ts), so it
// holds across processes sharing the directory; within the process followers
// hear of progress by events (follow.ts). Blobs are verified on the way in
// (renamed into place only after the digest matched) and, with verifyOnServe,
// on the way out. Each process keeps its own LRU index of the shared directory;
// the manifest store's files are in it too (DiskTenant in types.ts), so
// maxSize bounds both.
import { constants } from 'node:fs'
import { access, chmod, mkdir, stat, unlink } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import type { Logger } from '../log.js'
import { HashWorkerPool } from '../integrity/hash-worker.js'
import type { IntegrityError } from '../integrity/integrity-error.js'
import { BlobIndex } from './blob-index.js'
import { CacheMetrics } from './cache-metrics.js'
import { Fill } from './fill.js'
import { followCommitted, followForeign, followInflight, type FollowContext, type FollowResult } from './follow.js'
import { openBlob } from './open-blob.js'
import { BlobOrigins } from './origins.js'
import { CachePaths, DIR_MODE, fillKey, hexOf, sourceId } from './paths.js'
import { BlobReadStream } from './read-stream.js'
import { type ScannedBlob, scanBlobs, sweepTemps } from './rebuild.js'
import type { ByteRange } from '../registry/range.js'
import type { BlobCacheOptions, BlobCacheStats, ChargedFile, FillClaim, FillFollower, FillProgress, PartialRead } from './types.js'
import { writerClaim } from './writer-claim.js'
import { NotCacheableError } from './errors.js'

const POLL_MS = 25
// Hits read in chunks of READ_BUDGET ÷ (hits being read), as a power of two
// between MIN_READ and MAX_READ: a few pulls get large reads (fewer syscalls
// and stream hops, closer to nginx), many concurrent ones small reads, so
// that their buffers stay under the peak-RSS bound. The measurements:
// docs/benchmarks.md, "Figures behind constants in the code".
const READ_BUDGET = 8 * 1024 * 1024
const MIN_READ = 256 * 1024
const MAX_READ = 2 * 1024 * 1024

function readSize(readers: number): number {
  let size = MAX_READ
  while (size > MIN_READ && size * Math.max(1, readers) > READ_BUDGET) size /= 2
  return size
}
const DEFAULT_FILL_TIMEOUT = 5 * 60_000

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err)
}

export class BlobCache {
  readonly #opts: BlobCacheOptions
  readonly #log: Logger
  readonly #paths: CachePaths
  readonly #index: BlobIndex
  readonly #origins: BlobOrigins
  readonly #pool: HashWorkerPool
  /** The pool was made here (not passed in), so close() stops it. */
  readonly #ownPool: boolean
  /** Fills of this process by fill key (upstream and digest), until they settle. */
  readonly #inflight = new Map<string, Fill>()
  /** claimFree() calls not settled yet (background fills about to start). */
  #claiming = 0
  /** Every fill whose file operations may still be running (for close()). */
  readonly #fills = new Set<Fill>()
  readonly #follow: FollowContext
  /** A live writer touches its temp file at least this often (see rebuild.ts). */
  readonly #staleAfter: number
  /** opts.fillTimeout, or a default when it is 0/Infinity (a fill is always bounded). */
  readonly #fillTimeout: number
  readonly #metrics: CacheMetrics
  #writable = true
  /** Claims answered from a committed file (#followCommitted): counted as hits by claim(). */
  readonly #fromDisk = new WeakSet<object>()
  /** Cache hits being read now (they share READ_BUDGET). */
  #readers = 0
  #closed = false
  #sweeper: NodeJS.Timeout | null = null
  readonly #warned = new Set<string>()
  /** Source ids back to the upstream URLs they were made from (for fills()). */
  readonly #sources = new Map<string, string>()

  static async open(opts: BlobCacheOptions): Promise<BlobCache> {
    const cache = new BlobCache(opts)
    await cache.#init()
    return cache
  }

  private constructor(opts: BlobCacheOptions) {
    this.#opts = opts
    this.#pool = opts.hashing ?? new HashWorkerPool()
    this.#ownPool = !opts.hashing
    this.#log = opts.log.child({ component: 'cache' })
    this.#paths = new CachePaths(opts.dir)
    this.#origins = new BlobOrigins(this.#paths)
    this.#index = new BlobIndex({
      maxSize: opts.maxSize,
      onEvict: (hex, entry) => this.#deleteFile(hex, entry.ino, 'evicted (LRU)'),
    })
    this.#fillTimeout =
      Number.isFinite(opts.fillTimeout) && opts.fillTimeout > 0 ? opts.fillTimeout : DEFAULT_FILL_TIMEOUT
    // Between two writes a live writer waits at most fillTimeout for the
    // upstream and fillTimeout for a slow client; beyond twice that (plus
    // slack) its temp file is abandoned.
    this.#staleAfter = 2 * this.#fillTimeout + 1000
    this.#follow = {
      paths: this.#paths,
      hasher: () => this.#pool.create(),
      staleAfter: this.#staleAfter,
      pollInterval: POLL_MS,
      log: this.#log,
      onBytes: (n) => this.#metrics.served('cache', n),
      onCorrupt: (hex, ino, err) => this.#corrupt(hex, ino, err),
    }
    this.#metrics = new CacheMetrics(opts.metrics, {
      bytes: () => this.#index.bytes,
      chargedBytes: () => this.#index.chargedBytes,
      blobs: () => this.#index.count,
      inflightFills: () => this.#inflight.size + this.#claiming,
      fillBufferBytes: () => this.#fillBufferBytes(),
      maxBytes: () => (Number.isFinite(opts.maxSize) ? opts.maxSize : 0),
    })
  }

  async #init(): Promise<void> {
    const started = Date.now()
    const paths = this.#paths
    try {
      await mkdir(paths.root, { recursive: true, mode: DIR_MODE })
      // Cached layers may be private: nobody but the proxy's user reads the store.
      await chmod(paths.root, DIR_MODE).catch(() => {})
      for (const dir of [paths.blobs, paths.tmp, paths.origins]) await mkdir(dir, { recursive: true, mode: DIR_MODE })
      await access(paths.tmp, constants.W_OK)
    } catch (err) {
      this.#writable = false
      this.#log.warn('cache dir not writable: serving what is cached, caching nothing', { dir: paths.root, code: errCode(err) })
    }
    if (this.#opts.verifyOnServe) void this.#pool.warm()
    let foreign = 0
    let blobs: ScannedBlob[] = []
    try {
      const scan = await scanBlobs(paths)
      foreign = scan.foreign
      blobs = scan.blobs
    } catch (err) {
      this.#log.error('cache index rebuild failed: starting empty', { dir: paths.root, code: errCode(err) })
    }
    // The other stores' files go into the same LRU, ordered with the blobs by
    // last use; if they all exceed maxSize now (a lowered bound), the oldest
    // of either kind are evicted here.
    const charged: ChargedFile[] = []
    for (const tenant of this.#opts.tenants ?? []) {
      try {
        charged.push(...(await tenant.scan()))
      } catch (err) {
        this.#log.error('cache index rebuild of manifests failed: they are not counted until rewritten', { code: errCode(err) })
      }
    }
    this.#index.rebuild([...blobs, ...charged])
    for (const tenant of this.#opts.tenants ?? []) tenant.attach(this.#index)
    let staleTemps = 0
    if (this.#writable) {
      staleTemps = await this.#sweep()
      this.#sweeper = setInterval(() => void this.#sweep(), Math.max(this.#staleAfter, 60_000))
      this.#sweeper.unref()
    }
    this.#log.info('blob cache ready', {
      dir: paths.root,
      blobs: this.#index.count,
      bytes: this.#index.bytes,
      manifestBytes: this.#index.chargedBytes,
      foreign,
      staleTemps,
      verify: this.verifyMode,
      ms: Date.now() - started,
    })
  }

  /** How served blobs are verified: --verify-every-serve, the default, or --no-verify-on-serve. */
  get verifyMode(): 'every-serve' | 'once-per-file-state' | 'off' {
    if (!this.#opts.verifyOnServe) return 'off'
    return this.#opts.verifyEveryServe ? 'every-serve' : 'once-per-file-state'
  }

  async #sweep(): Promise<number> {
    try {
      return await sweepTemps(this.#paths, this.#staleAfter, (key) => this.#inflight.has(key))
    } catch (err) {
      this.#log.warn('cache tmp sweep failed', { code: errCode(err) })
      return 0
    }
  }

  /**
   * Size of a cached blob that the upstream `source` delivered itself,
   * marking it recently used. A blob cached from other upstreams only is a
   * miss here: this upstream must send it (once) before its clients are
   * served the shared copy.
   */
  async lookup(digest: string, source: string): Promise<{ size: number } | undefined> {
    const hex = hexOf(digest)
    if (!hex || !this.#index.peek(hex)) return undefined
    if (!(await this.#origins.has(hex, sourceId(source)))) return undefined
    const entry = this.#index.get(hex)
    if (!entry) return undefined
    this.#metrics.hit()
    return { size: entry.size }
  }

  /** Is this blob on disk, from any upstream? Neither a hit nor a use (tools, tests). */
  cached(digest: string): { size: number } | undefined {
    const hex = hexOf(digest)
    const entry = hex ? this.#index.peek(hex) : undefined
    return entry && { size: entry.size }
  }

  /**
   * A cached blob, whole (verified when verifyOnServe) or a byte range (not
   * verifiable). Errors with code ENOENT when the file vanished (the entry is
   * dropped: refetch), EINTEGRITY when it no longer matches (the file is
   * deleted, no final chunk was sent).
   */
  createReadStream(digest: string, range?: ByteRange): Readable {
    const hex = hexOf(digest)
    const expected = hex ? this.#index.peek(hex) : undefined
    let ino = -1
    let stamp: string | null = null
    this.#readers++
    const stream = new BlobReadStream({
      chunkSize: () => readSize(this.#readers),
      open: async () => {
        if (!hex) throw new NotCacheableError(`not a cacheable digest: ${digest}`)
        const opened = await openBlob(
          this.#paths.blob(hex),
          digest,
          expected?.size,
          {
            vanished: () => {
              if (this.#index.drop(hex)) this.#log.warn('cached blob vanished from disk: entry dropped', { digest })
            },
            corrupt: (ino, err) => this.#corrupt(hex, ino, err),
          },
          this.#opts.racyMs,
        )
        ino = opened.ino
        stamp = opened.stamp
        // Hashed whole by this process since it last changed: hashing it again
        // would find the same digest (open-blob.ts says why a stamp can vouch).
        const trusted = !this.#opts.verifyEveryServe && stamp !== null && this.#index.peek(hex)?.verified === stamp
        if (trusted) this.#metrics.verifySkipped()
        return { ...opened, trusted }
      },
      range,
      verify:
        !range && hex && this.#opts.verifyOnServe
          ? {
              hex,
              hasher: () => this.#pool.create(expected?.size),
              onVerified: () => {
                const entry = this.#index.peek(hex)
                if (stamp !== null && entry && entry.ino === ino) entry.verified = stamp
              },
            }
          : undefined,
      onMismatch: (err) => hex && this.#corrupt(hex, ino, err),
      onBytes: (n) => this.#metrics.served('cache', n),
    })
    stream.once('close', () => this.#readers--)
    return stream
  }


  /**
   * A miss: decides who fetches. 'writer' fetches upstream and hands the body
   * to fill(); 'follower' streams someone else's fill; null means "proxy
   * without caching" (not a sha256 digest, cache unwritable, closed, or the
   * writer we waited for was abandoned).
   */
  async claim(digest: string, source: string): Promise<FillClaim | FillFollower | null> {
    const at = this.#fillable(digest, source)
    if (!at) return null
    const { hex, sid } = at
    try {
      for (let attempt = 0; attempt < 4; attempt++) {
        const result = await this.#claimOnce(hex, sid, digest)
        if (result === 'retry') continue
        // A writer's miss is counted once it knows the blob will be cached
        // (writer-claim.ts); a blob found committed on disk (by another
        // process, behind our index's back) is a hit, as it would have been
        // for the process that filled it.
        if (result !== null && this.#fromDisk.delete(result)) this.#metrics.hit()
        else if (result === null || result.role !== 'writer') this.#metrics.miss()
        return result
      }
      this.#metrics.miss()
      return null
    } catch (err) {
      this.#warnOnce(errCode(err), 'cache claim failed: serving uncached', { digest, code: errCode(err) })
      return null
    }
  }

  /**
   * A writer's claim only when nobody fills this blob from this upstream
   * (in this process or another) and it is not cached for it: the fill of a
   * Range passed through (lib/handlers/cold-range.ts), which has no client
   * to give a follower to. Null otherwise, or when the cache cannot take it.
   */
  async claimFree(digest: string, source: string): Promise<FillClaim | null> {
    const at = this.#fillable(digest, source)
    if (!at) return null
    const { hex, sid } = at
    // Counted as a fill in flight from now: it has no client that would be.
    this.#claiming++
    try {
      for (let attempt = 0; attempt < 4; attempt++) {
        const result = await this.#claimOnce(hex, sid, digest, false)
        if (result === 'retry') continue
        return result !== null && result.role === 'writer' ? result : null
      }
      return null
    } catch (err) {
      this.#warnOnce(errCode(err), 'cache claim failed: serving uncached', { digest, code: errCode(err) })
      return null
    } finally {
      this.#claiming--
    }
  }

  /** The blob's hex and the upstream's source id, when a fill may start at all. */
  #fillable(digest: string, source: string): { hex: string; sid: string } | null {
    const hex = hexOf(digest)
    if (!hex || !this.#writable || this.#closed) return null
    const sid = sourceId(source)
    // Upstreams come from the registry map: a handful of names.
    if (!this.#sources.has(sid)) this.#sources.set(sid, source)
    return { hex, sid }
  }

  /** Would a blob of this many bytes be cached now (writable, open, within the bound)? */
  accepts(size: number): boolean {
    return this.#writable && !this.#closed && this.#index.fits(size)
  }

  /**
   * Part of a blob that a fill of this process (from this upstream) is
   * writing now, read back from its temp file: when the fill knows the
   * blob's length, `want(size)` names a range, and the fill has written
   * that range's first byte. The bytes come as the fill writes them; the
   * blob's final byte only after the fill's digest check. The range itself
   * is not hashed (nothing can be, short of the whole blob). Null otherwise.
   */
  readFill(digest: string, source: string, want: (size: number) => ByteRange | null): PartialRead | null {
    const hex = hexOf(digest)
    const fill = hex ? this.#inflight.get(fillKey(sourceId(source), hex)) : undefined
    const size = fill?.size
    if (!fill || fill.state !== 'filling' || size === undefined) return null
    const range = want(size)
    if (!range || range.start >= fill.written || range.end >= size) return null
    const handle = fill.acquire()
    if (!handle) return null
    const body = new BlobReadStream({
      open: async () => ({ handle, size }),
      range,
      growth: fill.committedGrowth(),
      onBytes: (n) => this.#metrics.served('cache', n),
    })
    // Someone reads it: the fill goes on if its own client leaves.
    fill.followers++
    body.once('close', () => fill.followers--)
    return { size, range, body, idleMs: () => (fill.state === 'committed' ? 0 : Date.now() - fill.lastProgress) }
  }

  async #claimOnce(hex: string, sid: string, digest: string, follow = true): Promise<FillClaim | FollowResult> {
    const key = fillKey(sid, hex)
    const linked = this.#index.peek(hex) !== undefined && (await this.#origins.has(hex, sid))
    // Synchronous from here up to the Fill's registration, so that concurrent
    // claims in this process find it and follow it by events.
    const running = this.#inflight.get(key)
    if (running) return follow ? followInflight(this.#follow, running) : null
    // A fill of ours that just failed (an upstream 401 abandons it) may still
    // be removing its temp file: wait for that rather than take the file for
    // another process's lock and serve this request uncached.
    for (const f of this.#fills) {
      if (f.key === key && f.state === 'failed') {
        await f.settled()
        return 'retry'
      }
    }
    if (linked && this.#index.peek(hex)) return follow ? this.#followCommitted(hex) : null
    const fill = new Fill(hex, sid, {
      paths: this.#paths,
      index: this.#index,
      origins: this.#origins,
      log: this.#log,
      onSettled: (f) => {
        if (this.#inflight.get(f.key) === f) this.#inflight.delete(f.key)
        void f.settled().then(() => this.#fills.delete(f))
      },
    })
    this.#inflight.set(key, fill)
    this.#fills.add(fill)
    let outcome: Awaited<ReturnType<Fill['open']>>
    try {
      outcome = await fill.open()
    } catch (err) {
      if (errCode(err) === 'ENOENT') {
        await mkdir(this.#paths.tmp, { recursive: true }) // tmp/ removed under us
        return 'retry'
      }
      throw err
    }
    switch (outcome) {
      case 'writer':
        return writerClaim(fill, {
          digest,
          fillTimeout: this.#fillTimeout,
          refuses: (size) =>
            this.#closed ? 'closing' : size !== undefined && !this.#index.fits(size) ? 'larger_than_cache_max_size' : undefined,
          onMiss: () => this.#metrics.miss(),
          onUncached: (reason) => this.#metrics.uncached(reason),
          fits: (bytes) => this.#index.fits(bytes),
          onClientGone: (kept) => this.#metrics.clientGone(kept),
          onBackground: (committed) => this.#metrics.background(committed),
          onClientBytes: (n) => this.#metrics.served('upstream', n),
          hasher: (size) => this.#pool.create(size),
          // Fills read into the hash pool's slots, which its workers hash in place.
          slots: this.#pool.slots,
          log: this.#log,
        })
      case 'committed': // by another process, behind our index's back
        this.#index.add(hex, fill.onDisk!.size, fill.onDisk!.ino)
        return follow ? this.#followCommitted(hex) : null
      case 'locked':
        return follow ? followForeign(this.#follow, hex, key) : null
    }
  }

  async #followCommitted(hex: string): Promise<FollowResult> {
    const r = await followCommitted(this.#follow, hex)
    if (r === 'retry') this.#index.drop(hex) // vanished meanwhile
    else if (r !== null) this.#fromDisk.add(r)
    return r
  }

  /** A committed file failed verification: forget it and delete that file. */
  #corrupt(hex: string, ino: number, err: IntegrityError): void {
    this.#index.drop(hex)
    this.#log.warn('cached blob failed verification: evicted', { digest: `sha256:${hex}`, found: err.found })
    this.#deleteFile(hex, ino, 'corrupt')
  }

  /** Deletes blobs/…/<hex> if it is still the file we know (same inode), and its origins. */
  #deleteFile(hex: string, ino: number, why: string): void {
    this.#metrics.evicted()
    const path = this.#paths.blob(hex)
    void stat(path)
      .then((st) => (ino < 0 || st.ino === ino ? Promise.all([unlink(path), this.#origins.forget(hex)]) : undefined))
      .then(
        () => this.#log.debug('cache file deleted', { digest: `sha256:${hex}`, why }),
        (err) => {
          if (errCode(err) !== 'ENOENT') this.#log.warn('cache file not deleted', { digest: `sha256:${hex}`, code: errCode(err) })
        },
      )
  }

  #warnOnce(key: string, msg: string, fields: Record<string, string>): void {
    if (this.#warned.has(key)) return this.#log.debug(msg, fields)
    this.#warned.add(key)
    this.#log.warn(msg, fields)
  }

  /** Fills of this process now, for the status page: the upstream they come from and how far they are. */
  fills(): FillProgress[] {
    return [...this.#inflight.values()].map((f) => ({
      digest: `sha256:${f.hex}`,
      upstream: this.#sources.get(f.sid) ?? f.sid,
      written: f.written,
      ...(f.size !== undefined ? { size: f.size } : {}),
      idleMs: Date.now() - f.lastProgress,
    }))
  }

  #fillBufferBytes(): number {
    const slots = this.#pool.slots
    return slots ? slots.inUse * slots.slotSize : 0
  }

  stats(): BlobCacheStats {
    return {
      ...this.#metrics.counts,
      bytesOnDisk: this.#index.bytes,
      blobs: this.#index.count,
      inflightFills: this.#inflight.size + this.#claiming,
      fillBufferBytes: this.#fillBufferBytes(),
    }
  }

  /** Aborts fills still running (their clients' streams error) and stops the workers. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#sweeper) clearInterval(this.#sweeper)
    const fills = [...this.#fills]
    for (const f of fills) f.abort(new Error('cache closed'))
    await Promise.all(fills.map((f) => f.settled()))
    if (this.#ownPool) await this.#pool.close()
  }
}
