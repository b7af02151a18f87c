// Body stage: the last guard between the Content-Length a client was told
// and the bytes sent under it. A surplus would be read by the client as the
// start of its next response (response splitting, RFC 9112 §11.1), a
// shortfall as a body cut short; either errors the stream before it goes
// out, and pipeline() then cuts the client's connection instead.
import { Transform, type TransformCallback } from 'node:stream'

export class ExactLength extends Transform {
  readonly #length: number
  #left: number

  constructor(length: number) {
    super()
    this.#length = length
    this.#left = length
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (chunk.length > this.#left) return cb(new Error(`body longer than the Content-Length sent (${this.#length})`))
    this.#left -= chunk.length
    cb(null, chunk)
  }

  override _flush(cb: TransformCallback): void {
    if (this.#left !== 0) return cb(new Error(`body ${this.#left} bytes shorter than the Content-Length sent (${this.#length})`))
    cb()
  }
}
