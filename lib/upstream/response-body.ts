// The response body as a Readable. The connection pushes the parser's body
// slices into it as they come (no copy); when push() says the buffer is full
// the connection pauses the socket, and _read() resumes it. Destroying the
// body tells the owner, which destroys the socket if the response was not
// received in full.

import { Readable } from 'node:stream'
import type { SlotBudget } from './slot-pool.js'

/** Who takes a body over from its stream (BodyOwner.takeOver). */
export interface BodySink {
  /** A slice of the body, in order. A slot's slice is valid only while its holder holds the slot. */
  chunk(buf: Buffer): void
  /** The body was received in full. */
  end(): void
  /** The body failed (the upstream died, stalled, or broke the framing). */
  error(err: Error): void
}

export interface BodyOwner {
  /**
   * From now on the body's chunks go to sink, synchronously as they are
   * parsed, instead of through the stream; with slots, reads land in the
   * budget's slots and the socket is paused only when none is free. Chunks
   * the stream holds already are handed over first. False: too late (the
   * exchange failed; the stream says why), or a socket that cannot read
   * into slots (through a CONNECT tunnel): keep reading the stream.
   */
  takeOver(sink: BodySink, slots: SlotBudget): boolean
  /** The consumer wants more: resume the socket if it was paused. */
  bodyWanted(): void
  /** The body is done with: after 'end', or destroyed before it. */
  bodyClosed(): void
}

// Big enough that a 64 KiB socket read rarely flips the socket between
// paused and flowing; small enough to bound memory per in-flight body.
const HIGH_WATER_MARK = 256 * 1024

export class ResponseBody extends Readable {
  private readonly owner: BodyOwner

  constructor(owner: BodyOwner) {
    super({ highWaterMark: HIGH_WATER_MARK })
    this.owner = owner
  }

  /** See BodyOwner.takeOver. Destroying the stream still cancels the body. */
  takeOver(sink: BodySink, slots: SlotBudget): boolean {
    return this.owner.takeOver(sink, slots)
  }

  override _read(): void {
    this.owner.bodyWanted()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.owner.bodyClosed()
    cb(err)
  }
}
