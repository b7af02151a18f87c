// The in-memory index of committed blobs: digest hex → size, in LRU order,
// bounded by total bytes. Evicting an entry (capacity) deletes its file via
// onEvict; replacing or dropping an entry does not. (Named blob-index rather
// than index.ts so that it does not read as the folder's barrel.)
import { LRUCache } from 'lru-cache'

export interface IndexEntry {
  size: number
  /** Inode of the committed file: an eviction deletes only that file. */
  ino: number
  /** The stamp (open-blob.ts) of the file as this process last verified it whole. */
  verified?: string
}

export interface BlobIndexOptions {
  /** Bytes; 0 or Infinity = unbounded. */
  maxSize: number
  /** An entry was pushed out by capacity: delete its file. */
  onEvict: (hex: string, entry: IndexEntry) => void
}

export class BlobIndex {
  readonly #lru: LRUCache<string, IndexEntry>
  readonly #maxSize: number
  #bytes = 0

  constructor(opts: BlobIndexOptions) {
    const bounded = Number.isFinite(opts.maxSize) && opts.maxSize > 0
    this.#maxSize = bounded ? Math.floor(opts.maxSize) : Number.MAX_SAFE_INTEGER
    this.#lru = new LRUCache<string, IndexEntry>({
      maxSize: this.#maxSize,
      // lru-cache wants a positive integer; an empty blob still costs an inode.
      sizeCalculation: (e) => Math.max(1, e.size),
      dispose: (entry, hex, reason) => {
        this.#bytes -= entry.size
        if (reason === 'evict') opts.onEvict(hex, entry)
      },
    })
  }

  /** Would a blob of this size be kept at all? (Bigger than the whole cache: no.) */
  fits(size: number): boolean {
    return Math.max(1, size) <= this.#maxSize
  }

  /** Looks up and marks as recently used. */
  get(hex: string): IndexEntry | undefined {
    return this.#lru.get(hex)
  }

  /** Looks up without touching the LRU order. */
  peek(hex: string): IndexEntry | undefined {
    return this.#lru.peek(hex)
  }

  /**
   * Records a committed blob as most recently used, evicting the least
   * recently used beyond maxSize. Returns false when it cannot be kept.
   */
  add(hex: string, size: number, ino: number): boolean {
    if (!this.fits(size)) return false
    const known = this.#lru.get(hex) // same digest, same bytes: touch it
    if (known) {
      if (known.ino !== ino) delete known.verified
      known.ino = ino
      return true
    }
    this.#bytes += size
    this.#lru.set(hex, { size, ino })
    return true
  }

  /** Forgets an entry without deleting its file (the caller handles the file). */
  drop(hex: string): boolean {
    return this.#lru.delete(hex)
  }

  get bytes(): number {
    return this.#bytes
  }

  get count(): number {
    return this.#lru.size
  }
}
