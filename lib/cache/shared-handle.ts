// One open file shared by a fill's writer and its in-process followers, so a
// follower reads exactly the inode being written (before and after the rename)
// without opening it by a path that may already point elsewhere. Closed when
// the last holder lets go; FileHandle.close() itself waits for reads in flight,
// so a descriptor is never closed under a pending read.
import type { FileHandle } from 'node:fs/promises'

export interface HandleRef {
  readonly fh: FileHandle
  /** Idempotent; the file closes when every reference was released. */
  release(): Promise<void>
}

export class SharedHandle {
  readonly #fh: FileHandle
  #refs = 0
  #closed: Promise<void> | null = null

  constructor(fh: FileHandle) {
    this.#fh = fh
  }

  /** null once the file was closed (every earlier holder released it). */
  acquire(): HandleRef | null {
    if (this.#closed) return null
    this.#refs++
    let released = false
    return {
      fh: this.#fh,
      release: () => {
        if (released) return this.#closed ?? Promise.resolve()
        released = true
        if (--this.#refs === 0) this.#closed = this.#fh.close().catch(() => {})
        return this.#closed ?? Promise.resolve()
      },
    }
  }
}

/** A reference to a file nobody else shares. */
export function ownHandle(fh: FileHandle): HandleRef {
  const shared = new SharedHandle(fh)
  return shared.acquire()!
}
