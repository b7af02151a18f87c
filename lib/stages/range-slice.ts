// Body stage: the bytes [start, end] of a whole-blob stream, for a Range
// request that is served from a cache fill (the miss is fetched whole, so
// that what the client gets is verified). The whole-blob stream is verified
// only at its end (its final chunk is held until the digest matched), so the
// range's final byte is held here until the source ended cleanly: a range cut
// from a blob that turns out wrong never completes. The source is read to its
// end either way; bytes outside the range are dropped.
import { Transform, type TransformCallback } from 'node:stream'
import type { ByteRange } from '../registry/range.js'

export class RangeSlice extends Transform {
  readonly #start: number
  readonly #end: number
  #pos = 0
  #held: Buffer | null = null

  constructor(range: ByteRange) {
    super()
    if (!(range.start >= 0 && range.end >= range.start)) throw new RangeError(`bad range ${range.start}-${range.end}`)
    this.#start = range.start
    this.#end = range.end
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, cb: TransformCallback): void {
    const from = this.#pos
    const to = from + chunk.length // [from, to)
    this.#pos = to
    const a = Math.max(this.#start, from)
    const b = Math.min(this.#end + 1, to)
    if (b <= a) return cb()
    let part = chunk.subarray(a - from, b - from)
    if (b === this.#end + 1) {
      this.#held = part.subarray(part.length - 1)
      part = part.subarray(0, part.length - 1)
    }
    cb(null, part.length > 0 ? part : undefined)
  }

  override _flush(cb: TransformCallback): void {
    if (this.#held === null) return cb(new RangeError(`the blob ended at ${this.#pos} bytes, before the range ${this.#start}-${this.#end}`))
    cb(null, this.#held)
  }
}
