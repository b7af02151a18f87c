// Reads a blob file to a client: whole or a byte range, complete on disk or
// still growing (a follower tailing a fill). A whole-blob read can be
// verified: every byte sent is hashed, and the final chunk is sent only after
// the digest matched, so a client never receives a complete wrong blob. The
// reader knows the blob's size up front, so it holds back only that last
// chunk. Reads are 256 KiB unless the caller sizes them (see CHUNK).
import { Readable } from 'node:stream'
import type { Hasher } from '../integrity/hash-worker.js'
import { IntegrityError } from '../integrity/integrity-error.js'
import type { HandleRef } from './shared-handle.js'
import type { ByteRange } from '../registry/range.js'
import { RangeOutsideBlobError } from './errors.js'

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
  /** This exact file was verified whole before: no need to hash it again. */
  trusted?: boolean
}

export interface BlobReadOptions {
  open: () => Promise<OpenedBlob>
  range?: ByteRange | undefined
  /** Verify a whole-blob read against this SHA-256 hex (unless open() says the file is trusted). */
  verify?: { hex: string; hasher: () => Hasher; onVerified?: () => void } | undefined
  /** Absent: the file is complete. */
  growth?: Growth | undefined
  /** Bytes per read: fixed, or asked before each read (the cache shares a budget among its readers). */
  chunkSize?: number | (() => number)
  /** The digest (or length) did not match: the file is bad. */
  onMismatch?: ((err: IntegrityError) => void) | undefined
  /** Bytes handed to the consumer. */
  onBytes?: ((n: number) => void) | undefined
}

// 256 KiB reads: 32 concurrent pulls of a large blob keep ~3 chunks each in
// flight (read, readable buffer, socket), 1 MiB chunks doubled the peak RSS.
const CHUNK = 256 * 1024

export class BlobReadStream extends Readable {
  readonly #opts: BlobReadOptions
  readonly #chunkSize: () => number
  #handle: HandleRef | null = null
  #hasher: Hasher | null = null
  #pos = 0
  #end = 0 // exclusive
  #pumping = false
  #wanted = false
  #cancelWait: (() => Promise<void>) | null = null
  /** The read of the chunk at #pos, issued ahead of need. */
  #ahead: Promise<Buffer> | null = null
  /** Buffers the consumer handed back (see recycle()), for the next reads. */
  readonly #free: Buffer[] = []

  constructor(opts: BlobReadOptions) {
    const chunkSize = opts.chunkSize ?? CHUNK
    // The readable buffer holds one chunk at most (of the smallest size
    // asked for): chunks wait in the socket, not here.
    super({ highWaterMark: typeof chunkSize === 'number' ? chunkSize : CHUNK })
    this.#opts = opts
    this.#chunkSize = typeof chunkSize === 'number' ? () => chunkSize : chunkSize
  }

  override _construct(cb: (err?: Error | null) => void): void {
    this.#opts.open().then(
      ({ handle, size, trusted }) => {
        this.#handle = handle
        const range = this.#opts.range
        if (range) {
          if (!(range.start >= 0 && range.start <= range.end && range.end < size)) {
            return cb(new RangeOutsideBlobError(`range ${range.start}-${range.end} outside blob of ${size} bytes`))
          }
          this.#pos = range.start
          this.#end = range.end + 1
        } else {
          this.#end = size
          if (this.#opts.verify && !trusted) this.#hasher = this.#opts.verify.hasher()
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
        let read = this.#ahead
        this.#ahead = null
        if (read === null) {
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
          read = this.#readAt(fh, this.#pos, available)
        }
        const chunk = await read
        if (this.destroyed) return
        this.#pos += chunk.length
        // One read ahead (complete files only: a growing one is read as the
        // fill allows): the next chunk comes off the disk on the thread pool
        // while this one is hashed and written to the socket.
        if (!growth && this.#pos < this.#end) this.#ahead = this.#readAt(fh, this.#pos, this.#end)
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

  /** Reads the chunk at `at` (up to `limit`); a read of nothing is a truncated file. */
  #readAt(fh: HandleRef['fh'], at: number, limit: number): Promise<Buffer> {
    const size = this.#chunkSize()
    const len = Math.min(size, limit - at)
    // A recycled buffer is free: its socket write completed, and the
    // hasher copied it before the backlog wait that preceded this read.
    let buf = this.#free.pop()
    if (buf !== undefined && buf.length !== size) {
      this.#free.length = 0 // the size changed: let the old ones go
      buf = undefined
    }
    buf ??= this.#hasher ? this.#hasher.alloc(len) : Buffer.allocUnsafeSlow(len)
    const into = buf
    const p = fh.read(into, 0, len, at).then(({ bytesRead }) => {
      if (bytesRead === 0) throw this.#mismatch(`truncated at ${at} of ${this.#end} bytes`)
      return bytesRead === into.length ? into : into.subarray(0, bytesRead)
    })
    p.catch(() => {}) // awaited by #pump, or moot once the stream is destroyed
    return p
  }

  /**
   * The consumer is done with a chunk this stream pushed (its bytes reached
   * the kernel): the chunk's buffer may take a later read. See sendBlob()
   * (lib/handlers/blob-response.ts).
   */
  recycle(chunk: Buffer): void {
    // Only whole read buffers of our own (allocUnsafeSlow: offset 0, own ArrayBuffer).
    if (this.#free.length < 4 && chunk.byteOffset === 0 && chunk.buffer.byteLength === chunk.length) {
      this.#free.push(Buffer.from(chunk.buffer))
    }
  }

  async #verify(): Promise<void> {
    const hasher = this.#hasher
    const verify = this.#opts.verify
    if (!hasher || !verify) return
    this.#hasher = null
    const found = await hasher.digest()
    if (found !== verify.hex) throw this.#mismatch(undefined, found)
    verify.onVerified?.()
  }

  #mismatch(note?: string, found?: string): IntegrityError {
    const expected = this.#opts.verify ? `sha256:${this.#opts.verify.hex}` : 'sha256:?'
    const err = new IntegrityError({ expected, found: found ? `sha256:${found}` : `unknown (${note})` })
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
    const ahead = this.#ahead
    this.#ahead = null
    // The file is closed only once no read of ours is still running on it.
    Promise.all([cancel?.(), ahead?.catch(() => {})])
      .then(() => handle?.release())
      .then(
        () => cb(err),
        () => cb(err),
      )
  }
}
