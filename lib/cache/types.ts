// The contract between the /v2 blob handler and the blob cache.
import type { Readable } from 'node:stream'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { HashWorkerPool } from '../integrity/hash-worker.js'
import type { ByteRange } from '../registry/range.js'

export interface BlobCacheOptions {
  /** Root of the store (created if missing). */
  dir: string
  /** Bytes; 0 or Infinity = unbounded. LRU eviction deletes files beyond it. */
  maxSize: number
  /** Verify the SHA-256 of whole-blob reads on the way out. */
  verifyOnServe: boolean
  /**
   * With verifyOnServe: hash every serve, even of a file this process has
   * already verified whole and that has not changed since (default: those
   * are served without hashing them again).
   */
  verifyEveryServe?: boolean
  /** Test hook: ms a file must be unchanged before its verification is remembered (open-blob.ts RACY_MS). */
  racyMs?: number
  /** ms a fill may go on after its first client disconnected (and overall idle bound). */
  fillTimeout: number
  log: Logger
  metrics: Metrics
  /** SHA-256 threads shared with the rest of the proxy; without it the cache starts (and stops) its own. */
  hashing?: HashWorkerPool
  /** Other stores in the same directory whose files count against maxSize (the manifests). */
  tenants?: DiskTenant[]
}

/**
 * The byte bound of the cache directory (maxSize), as another store sees it:
 * its files are charged to the same LRU as the blobs, and the least recently
 * used of either kind goes first.
 */
export interface DiskBudget {
  /**
   * Charges a file (or files kept together) under `key` as most recently
   * used, replacing an earlier charge of that key. evict() deletes the files
   * when the LRU pushes them out; it must not call back into the budget.
   * False when the size exceeds the whole bound (the caller should not keep them).
   */
  charge(key: string, size: number, evict: () => void): boolean
  /** Marks as recently used. */
  touch(key: string): void
  /** The owner deleted the files itself. */
  release(key: string): void
}

/** A file (or files kept together) another store found on disk at start-up. */
export interface ChargedFile {
  key: string
  size: number
  /** ms epoch, comparable with the blobs' (max of atime and mtime). */
  lastUsed: number
  evict: () => void
}

export interface DiskTenant {
  /** Its files on disk, for the start-up index: merged with the blobs by last use. */
  scan(): Promise<ChargedFile[]>
  /** From now on, charge what it writes to `budget`. */
  attach(budget: DiskBudget): void
}

/** The claimant of a miss: the only one that fetches upstream for this digest. */
export interface FillClaim {
  role: 'writer'
  /**
   * Hands the upstream 200 body to the cache. Returns the stream to send to
   * the client: the same bytes, streamed as they arrive, with the final chunk
   * held back until SHA-256 and length matched (on a mismatch it errors, and
   * nothing is committed). When the returned stream is destroyed (client
   * gone), the fill reads the upstream on to its end, bounded by
   * fillTimeout, if the client wanted the blob to its end (`wantsTail`,
   * default true: it will likely resume), others follow, or half of it is
   * in; otherwise it is dropped. A disk error stops caching but not the
   * returned stream. `recycles`: the caller sends the stream with sendBlob,
   * which calls recycle(chunk) once each chunk is written (the fill may then
   * read into reused slots of memory: lib/upstream/slot-pool.ts).
   */
  fill(upstreamBody: Readable, size: number | undefined, wantsTail?: boolean, recycles?: boolean): Readable
  /**
   * fill() for no client: the body is read at disk speed to its end (an
   * idle upstream is dropped after fillTimeout), verified and committed.
   * Resolves true once committed, false when the fill failed or was not
   * cached. It is counted (background fills) but no client's bytes.
   */
  fillInBackground(upstreamBody: Readable, size: number | undefined): Promise<boolean>
  /** Upstream did not answer 200: release the claim so followers go upstream themselves. */
  abandon(): void
  /** After fill(): why the body went to the client without being cached (e.g. larger than --cache-max-size); undefined when cached. */
  readonly uncached?: string
}

/** Someone else (this process or another sharing the dir) is filling. */
export interface FillFollower {
  role: 'follower'
  size: number
  /** Tails the growing temp file; verified like a hit; errors if the fill fails. */
  body: Readable
  /** ms since the fill last wrote a byte (0 once it is complete). */
  idleMs(): number
}

/** A range read back from a fill in progress (BlobCache.readFill). */
export interface PartialRead {
  /** The blob's length. */
  size: number
  range: ByteRange
  body: Readable
  /** ms since the fill last wrote a byte (0 once it is complete). */
  idleMs(): number
}

export interface BlobCacheStats {
  hits: number
  misses: number
  bytesFromCache: number
  bytesFromUpstream: number
  evictions: number
  bytesOnDisk: number
  blobs: number
  inflightFills: number
  /** Bytes of read buffers (slots) fills hold now: 0 when no fill runs and no upstream socket is left reading into one. */
  fillBufferBytes: number
}

/** A fill in progress, as the status page shows it. */
export interface FillProgress {
  digest: string
  /** The upstream's URL (from the registry map: no credentials). */
  upstream: string
  /** Bytes on disk so far. */
  written: number
  /** Expected length, once the upstream announced it. */
  size?: number
  /** ms since the fill last wrote. */
  idleMs: number
}
