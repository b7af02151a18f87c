// Reads a blob file to a client: whole or a byte range, complete on disk or
// still growing (a follower tailing a fill). A whole-blob read can be
// verified: every byte sent is hashed, and the final chunk is sent only after
// the digest matched, so a client never receives a complete wrong blob. The
// reader knows the blob's size up front, so it holds back only that last
// chunk. Reads are large (1 MiB) to cut syscalls.
import { Readable } from 'node:stream'
import type { Hasher } from '../stages/hash-worker.js'
import { integrityError, type IntegrityError } from '../stages/verify-digest.js'
import type { HandleRef } from './shared-handle.js'
import type { ByteRange } from './types.js'

/** How much of a growing file may be read, and when that changes. */
export interface Growth {
  available(): number
  /** Set when no more bytes will come: the fill failed or stalled. */
  failure(): Error | null
  /**
   * Calls cb once after the next change. Returns a cancel function whose
   * promise settles when the watcher no longer touches the file.
   */
  wait(cb: () => void): () => Promise<void>
}

export interface OpenedBlob {
  handle: HandleRef
  /** The blob's full length. */
  size: number
}

export interface BlobReadOptions {
  open: () => Promise<OpenedBlob>
  range?: ByteRange | undefined
  /** Verify a whole-blob read against this SHA-256 hex. */
  verify?: { hex: string; hasher: () => Hasher } | undefined
  /** Absent: the file is complete. */
  growth?: Growth | undefined
  chunkSize?: number
  /** The digest (or length) did not match: the file is bad. */
  onMismatch?: ((err: IntegrityError) => void) | undefined
  /** Bytes handed to the consumer. */
  onBytes?: ((n: number) => void) | undefined
}

const MiB = 1024 * 1024

export class BlobReadStream extends Readable {
  readonly #opts: BlobReadOptions
  readonly #chunkSize: number
  #handle: HandleRef | null = null
  #hasher: Hasher | null = null
  #pos = 0
  #end = 0 // exclusive
  #pumping = false
  #wanted = false
  #cancelWait: (() => Promise<void>) | null = null

  constructor(opts: BlobReadOptions) {
    const chunkSize = opts.chunkSize ?? MiB
    super({ highWaterMark: chunkSize })
    this.#opts = opts
    this.#chunkSize = chunkSize
  }

  override _construct(cb: (err?: Error | null) => void): void {
    this.#opts.open().then(
      ({ handle, size }) => {
        this.#handle = handle
        const range = this.#opts.range
        if (range) {
          if (!(range.start >= 0 && range.start <= range.end && range.end < size)) {
            const err = Object.assign(new RangeError(`range ${range.start}-${range.end} outside blob of ${size} bytes`), {
              code: 'ERANGE',
            })
            return cb(err)
          }
          this.#pos = range.start
          this.#end = range.end + 1
        } else {
          this.#end = size
          if (this.#opts.verify) this.#hasher = this.#opts.verify.hasher()
        }
        cb()
      },
      (err: Error) => cb(err),
    )
  }

  override _read(): void {
    this.#wanted = true
    if (!this.#pumping) void this.#pump()
  }

  async #pump(): Promise<void> {
    this.#pumping = true
    try {
      const fh = this.#handle!.fh
      const growth = this.#opts.growth
      if (this.#pos >= this.#end) {
        await this.#verify()
        if (!this.destroyed) this.push(null)
        return
      }
      while (!this.destroyed) {
        const available = growth ? Math.min(growth.available(), this.#end) : this.#end
        if (available <= this.#pos) {
          const failed = growth?.failure()
          if (failed) throw failed
          await new Promise<void>((resolve) => {
            this.#cancelWait = growth!.wait(resolve)
          })
          this.#cancelWait = null
          continue
        }
        const len = Math.min(this.#chunkSize, available - this.#pos)
        const buf = this.#hasher ? this.#hasher.alloc(len) : Buffer.allocUnsafeSlow(len)
        const { bytesRead } = await fh.read(buf, 0, len, this.#pos)
        if (this.destroyed) return
        if (bytesRead === 0) throw this.#mismatch(`truncated at ${this.#pos} of ${this.#end} bytes`)
        const chunk = bytesRead === len ? buf : buf.subarray(0, bytesRead)
        this.#pos += bytesRead
        this.#hasher?.update(chunk)
        const last = this.#pos >= this.#end
        if (last) await this.#verify() // the held-back final chunk
        if (this.destroyed) return
        this.#opts.onBytes?.(chunk.length)
        this.#wanted = false
        const more = this.push(chunk)
        if (last) {
          this.push(null)
          return
        }
        const backlog = this.#hasher?.backlog()
        if (backlog) await backlog
        if (!more && !this.#wanted) return
      }
    } catch (err) {
      this.destroy(err as Error)
    } finally {
      this.#pumping = false
    }
  }

  async #verify(): Promise<void> {
    const hasher = this.#hasher
    const verify = this.#opts.verify
    if (!hasher || !verify) return
    this.#hasher = null
    const found = await hasher.digest()
    if (found !== verify.hex) throw this.#mismatch(undefined, found)
  }

  #mismatch(note?: string, found?: string): IntegrityError {
    const expected = this.#opts.verify ? `sha256:${this.#opts.verify.hex}` : 'sha256:?'
    const err = integrityError({ expected, found: found ? `sha256:${found}` : `unknown (${note})` })
    this.#opts.onMismatch?.(err)
    return err
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#hasher?.dispose()
    this.#hasher = null
    const cancel = this.#cancelWait
    this.#cancelWait = null
    const handle = this.#handle
    this.#handle = null
    Promise.resolve(cancel?.())
      .then(() => handle?.release())
      .then(
        () => cb(err),
        () => cb(err),
      )
  }
}
