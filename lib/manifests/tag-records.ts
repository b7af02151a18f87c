// Tag records, the offline fallback's memory: the last digest (and media
// type) the upstream named for (tag, way of asking), with when it said so.
// One record per (upstream, repository, tag, acceptKey), as an LRU of at most
// MAX_TAG_RECORDS that holds memory and files alike: a record pushed out
// loses its file, and a file pushed out of the disk budget loses its record.
// A record found on disk at start-up is read when first asked for.
import { LRUCache } from 'lru-cache'
import type { ChargedFile, DiskBudget } from '../cache/types.js'
import { readTag, removeFile, type TagRecord, writeTag } from './disk-store.js'
import { tagRecordId } from './media-types.js'
import type { ManifestPaths } from './paths.js'
import type { FoundTag } from './rebuild.js'

/** Tag records kept, in memory and on disk: (repository, tag, way of asking). */
export const MAX_TAG_RECORDS = 10_000
/** A record is rewritten on disk at most this often while its digest does not change. */
const WRITE_INTERVAL = 60_000

interface Entry {
  /** Undefined for a record found on disk at start-up and not read since. */
  record?: TagRecord
  writtenAt: number
  /** Its file, once written (or found). */
  file?: string
}

/** What the records share with the manifest cache: its layout, budget and ordered disk queue. */
export interface TagRecordsContext {
  paths: ManifestPaths
  budget: () => DiskBudget | undefined
  writable: () => boolean
  /** Runs a disk operation after the previous one on the same key. */
  background: (key: string, op: () => Promise<void>, msg: string) => Promise<void>
  warnOnce: (key: string, msg: string, fields: Record<string, string>) => void
}

export class TagRecords {
  readonly #ctx: TagRecordsContext
  /** `<upstream> <repo> <tag> <record id>` → the record. */
  readonly #lru: LRUCache<string, Entry>

  constructor(ctx: TagRecordsContext, max = MAX_TAG_RECORDS) {
    this.#ctx = ctx
    this.#lru = new LRUCache<string, Entry>({
      max,
      dispose: (entry, key, reason) => {
        if (reason === 'evict' && entry.file) this.#removeFile(key, entry.file)
      },
    })
  }

  get size(): number {
    return this.#lru.size
  }

  /** Start-up: the record files found on disk (oldest first); those beyond the bound are deleted. */
  adopt(found: FoundTag[]): ChargedFile[] {
    const known: Array<{ f: FoundTag; key: string }> = []
    for (const f of found) {
      const dir = this.#ctx.paths.repo(f.upstream, f.repo)
      if (!dir) continue
      const key = `${f.upstream} ${f.repo} ${f.tag} ${f.id}`
      this.#lru.set(key, { writtenAt: 0, file: this.#ctx.paths.tag(dir, f.tag, f.id) })
      known.push({ f, key })
    }
    const out: ChargedFile[] = []
    for (const { f, key } of known) {
      const file = this.#lru.peek(key)?.file
      if (file) out.push({ key: charge(key), size: f.size, lastUsed: f.lastUsed, evict: () => this.#evicted(key, file) })
    }
    return out
  }

  /** The upstream said just now: this tag, asked for this way, is this digest. Resolves once on disk. */
  record(upstream: string, repo: string, tag: string, acceptKey: string, r: Omit<TagRecord, 'resolvedAt'>): Promise<void> {
    const id = tagRecordId(tag, acceptKey)
    const key = `${upstream} ${repo} ${tag} ${id}`
    const now = Date.now()
    const prev = this.#lru.get(key)
    const changed = !prev?.record || prev.record.digest !== r.digest || prev.record.mediaType !== r.mediaType
    const write = changed || !prev.file || now - prev.writtenAt >= WRITE_INTERVAL
    const record: TagRecord = { digest: r.digest, mediaType: r.mediaType, resolvedAt: now }
    this.#lru.set(key, { record, writtenAt: write ? now : prev.writtenAt, file: prev?.file })
    if (prev?.file) this.#ctx.budget()?.touch(charge(key))
    const dir = this.#ctx.paths.repo(upstream, repo)
    if (!write || !dir || !this.#ctx.writable()) return Promise.resolve()
    const file = this.#ctx.paths.tag(dir, tag, id)
    return this.#ctx.background(
      key,
      async () => {
        const bytes = await writeTag(this.#ctx.paths, file, record)
        const entry = this.#lru.peek(key)
        // Pushed out of the bound while this write waited: its file goes too.
        if (!entry || !this.#charge(key, bytes, file)) return removeFile(file)
        entry.file = file
      },
      'manifest tag record write failed',
    )
  }

  /** The last resolution of (tag, way of asking), from memory or disk. */
  async get(upstream: string, repo: string, tag: string, acceptKey: string): Promise<TagRecord | undefined> {
    const id = tagRecordId(tag, acceptKey)
    const key = `${upstream} ${repo} ${tag} ${id}`
    const known = this.#lru.get(key)
    if (known?.record) {
      if (known.file) this.#ctx.budget()?.touch(charge(key))
      return known.record
    }
    const dir = this.#ctx.paths.repo(upstream, repo)
    if (!dir) return undefined
    const file = this.#ctx.paths.tag(dir, tag, id)
    try {
      const found = await readTag(file)
      if (!found) {
        if (known) this.#lru.delete(key)
        this.#ctx.budget()?.release(charge(key))
        return undefined
      }
      const current = this.#lru.get(key)
      if (current?.record) return current.record // recorded while we read
      // Also a record another process sharing the directory wrote: ours now.
      this.#lru.set(key, { record: found.record, writtenAt: found.record.resolvedAt, file })
      this.#charge(key, found.bytes, file)
      return found.record
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err)
      this.#ctx.warnOnce(code, 'manifest tag record read failed', { tag, code })
      return undefined
    }
  }

  /** Charges a record file to the blob cache's bound; true when there is none. */
  #charge(key: string, bytes: number, file: string): boolean {
    return this.#ctx.budget()?.charge(charge(key), bytes, () => this.#evicted(key, file)) ?? true
  }

  /** The disk budget pushed the file out: the record goes with it. */
  #evicted(key: string, file: string): void {
    this.#lru.delete(key) // 'delete', not 'evict': the file is removed here
    this.#removeFile(key, file)
  }

  #removeFile(key: string, file: string): void {
    void this.#ctx.background(
      key,
      async () => {
        await removeFile(file)
        // After the file: a rewrite queued before this delete charged it again.
        this.#ctx.budget()?.release(charge(key))
      },
      'manifest tag record delete failed',
    )
  }
}

/** The key in the blob cache's budget: its own are digests, so the two never meet. */
function charge(key: string): string {
  return `tag ${key}`
}
