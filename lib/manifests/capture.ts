// Body stage: passes a manifest through untouched while keeping a copy for
// the cache, up to a limit. Past the limit the copy is dropped at once and
// the rest streams through uncached: nothing larger than `limit` is ever held.
// Within the limit the last chunk is held back until `commit` has stored the
// copy (like the blob cache, which commits before the client's final byte),
// so a client that has the whole manifest finds it cached on its next
// request. A failing commit never fails the client's stream.
import { Transform, type TransformCallback } from 'node:stream'

export interface CaptureOptions {
  limit: number
  /** Stores the whole body; awaited before the last chunk goes on. */
  commit: (body: Buffer) => Promise<void>
}

export class CaptureUpTo extends Transform {
  readonly #limit: number
  readonly #commit: (body: Buffer) => Promise<void>
  #chunks: Buffer[] = []
  #held: Buffer | null = null
  #size = 0
  #over = false

  constructor(opts: CaptureOptions) {
    super()
    this.#limit = opts.limit
    this.#commit = opts.commit
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#over) return cb(null, chunk)
    this.#size += chunk.length
    const previous = this.#held
    if (this.#size > this.#limit) {
      this.#over = true
      this.#chunks = []
      this.#held = null
      if (previous) this.push(previous)
      return cb(null, chunk)
    }
    this.#chunks.push(chunk)
    this.#held = chunk
    cb(null, previous ?? undefined)
  }

  override _flush(cb: TransformCallback): void {
    const held = this.#held
    if (this.#over || held === null) return cb()
    const body = Buffer.concat(this.#chunks, this.#size)
    this.#chunks = []
    this.#commit(body).then(
      () => cb(null, held),
      () => cb(null, held),
    )
  }
}
