// The in-memory index of the cache directory: committed blobs (digest hex →
// size) and the files another store keeps there (manifests, charged through
// DiskBudget), in one LRU order, bounded by their total bytes
// (--cache-max-size). Evicting an entry (capacity) deletes its files: a
// blob's via onEvict, another store's via the evict() it was charged with;
// replacing or dropping an entry does not. (Named blob-index rather than
// index.ts so that it does not read as the folder's barrel.)
import { LRUCache } from 'lru-cache'
import type { ChargedFile, DiskBudget } from './types.js'

export interface IndexEntry {
  size: number
  /** Inode of the committed file: an eviction deletes only that file. */
  ino: number
  /** The stamp (open-blob.ts) of the file as this process last verified it whole. */
  verified?: string
}

/** A file (or files kept together) of another store. */
interface ChargedEntry {
  size: number
  evict: () => void
}

type Entry = IndexEntry | ChargedEntry

function isCharged(e: Entry): e is ChargedEntry {
  return 'evict' in e
}

/** Blob keys are 64 hex; another store's keys get this prefix, so the two never meet. */
const CHARGED = 'charged:'

export interface BlobIndexOptions {
  /** Bytes; 0 or Infinity = unbounded. */
  maxSize: number
  /** A blob entry was pushed out by capacity: delete its file. */
  onEvict: (hex: string, entry: IndexEntry) => void
}

export class BlobIndex implements DiskBudget {
  readonly #lru: LRUCache<string, Entry>
  readonly #maxSize: number
  #bytes = 0
  #blobs = 0
  #chargedBytes = 0

  constructor(opts: BlobIndexOptions) {
    const bounded = Number.isFinite(opts.maxSize) && opts.maxSize > 0
    this.#maxSize = bounded ? Math.floor(opts.maxSize) : Number.MAX_SAFE_INTEGER
    this.#lru = new LRUCache<string, Entry>({
      maxSize: this.#maxSize,
      // lru-cache wants a positive integer; an empty blob still costs an inode.
      sizeCalculation: (e) => Math.max(1, e.size),
      dispose: (entry, key, reason) => {
        if (isCharged(entry)) {
          this.#chargedBytes -= entry.size
          if (reason === 'evict') entry.evict()
          return
        }
        this.#bytes -= entry.size
        this.#blobs--
        if (reason === 'evict') opts.onEvict(key, entry)
      },
    })
  }

  /** Would a blob of this size be kept at all? (Bigger than the whole cache: no.) */
  fits(size: number): boolean {
    return Math.max(1, size) <= this.#maxSize
  }

  /** Looks up and marks as recently used. */
  get(hex: string): IndexEntry | undefined {
    const e = this.#lru.get(hex)
    return e && !isCharged(e) ? e : undefined
  }

  /** Looks up without touching the LRU order. */
  peek(hex: string): IndexEntry | undefined {
    const e = this.#lru.peek(hex)
    return e && !isCharged(e) ? e : undefined
  }

  /**
   * Records a committed blob as most recently used, evicting the least
   * recently used beyond maxSize. Returns false when it cannot be kept.
   */
  add(hex: string, size: number, ino: number): boolean {
    if (!this.fits(size)) return false
    const known = this.get(hex) // same digest, same bytes: touch it
    if (known) {
      if (known.ino !== ino) delete known.verified
      known.ino = ino
      return true
    }
    this.#bytes += size
    this.#blobs++
    this.#lru.set(hex, { size, ino })
    return true
  }

  /** Forgets an entry without deleting its file (the caller handles the file). */
  drop(hex: string): boolean {
    return this.#lru.delete(hex)
  }

  charge(key: string, size: number, evict: () => void): boolean {
    if (!this.fits(size)) return false
    // set() disposes of an entry it replaces (reason 'set': its files are the
    // ones being charged again, so nothing is deleted).
    this.#chargedBytes += size
    this.#lru.set(CHARGED + key, { size, evict })
    return true
  }

  touch(key: string): void {
    this.#lru.get(CHARGED + key)
  }

  release(key: string): void {
    this.#lru.delete(CHARGED + key)
  }

  /** Start-up: blobs and charged files found on disk, oldest first, so the newest end up most recently used. */
  rebuild(files: ReadonlyArray<({ hex: string; ino: number } | ChargedFile) & { size: number; lastUsed: number }>): void {
    const sorted = [...files].sort((a, b) => a.lastUsed - b.lastUsed)
    for (const f of sorted) {
      if ('hex' in f) this.add(f.hex, f.size, f.ino)
      else this.charge(f.key, f.size, f.evict)
    }
  }

  /** Bytes of committed blobs. */
  get bytes(): number {
    return this.#bytes
  }

  /** Bytes of the files charged by another store. */
  get chargedBytes(): number {
    return this.#chargedBytes
  }

  /** Committed blobs. */
  get count(): number {
    return this.#blobs
  }
}
