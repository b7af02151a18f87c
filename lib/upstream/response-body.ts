// The response body as a Readable. The connection pushes the parser's body
// slices into it as they come (no copy); when push() says the buffer is full
// the connection pauses the socket, and _read() resumes it. Destroying the
// body tells the owner, which destroys the socket if the response was not
// received in full.

import { Readable } from 'node:stream'

export interface BodyOwner {
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

  override _read(): void {
    this.owner.bodyWanted()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.owner.bodyClosed()
    cb(err)
  }
}
