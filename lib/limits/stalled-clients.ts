// Clients that stop reading a response. Backpressure makes a slow client slow
// the upstream down instead of filling memory; a client that reads nothing
// at all would then hold an upstream socket (and a slot of
// --max-upstream-inflight) for ever. Every connection with output waiting is
// checked a few times per timeout: one whose pending output has not moved
// for `timeout` ms is destroyed, which tears down its pipeline and the
// upstream request behind it. Waiting for an upstream is not a stall (nothing
// is pending), and neither is reading slowly: any progress re-arms the clock.
import type { Socket } from 'node:net'

interface Watched {
  mark: string
  since: number
}

export class StalledClients {
  readonly #timeout: number
  readonly #sockets = new Map<Socket, Watched>()
  readonly #timer: NodeJS.Timeout | null
  readonly #onStall: (socket: Socket) => void

  /**
   * timeout 0 = never cut. By default a stalled socket is reset (RST), not
   * closed: a FIN would queue behind the unsent output, and the kernel would
   * keep that buffer, probing a zero window, long after the proxy let go.
   * (A TLS socket cannot be reset from JavaScript: it is destroyed.)
   */
  constructor(timeout: number, onStall: (socket: Socket) => void = resetOrDestroy) {
    this.#timeout = timeout
    this.#onStall = onStall
    this.#timer = timeout > 0 ? setInterval(() => this.#check(), Math.max(10, Math.min(1000, timeout / 4))) : null
    this.#timer?.unref()
  }

  watch(socket: Socket): void {
    if (this.#timer === null) return
    this.#sockets.set(socket, { mark: '', since: Date.now() })
    socket.once('close', () => this.#sockets.delete(socket))
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer)
    this.#sockets.clear()
  }

  #check(): void {
    const now = Date.now()
    for (const [socket, w] of this.#sockets) {
      const pending = socket.writableLength
      if (pending === 0 || socket.destroyed) {
        w.mark = ''
        w.since = now
        continue
      }
      // bytesWritten counts what was handed to the socket; with the pending
      // length (and libuv's queue, which shrinks on partial writes) it moves
      // whenever the client takes any byte.
      const queue = (socket as unknown as { _handle?: { writeQueueSize?: number } })._handle?.writeQueueSize ?? 0
      const mark = `${socket.bytesWritten}:${pending}:${queue}`
      if (mark !== w.mark) {
        w.mark = mark
        w.since = now
      } else if (now - w.since >= this.#timeout) {
        this.#sockets.delete(socket)
        this.#onStall(socket)
      }
    }
  }
}

function resetOrDestroy(socket: Socket): void {
  try {
    socket.resetAndDestroy()
  } catch {
    socket.destroy()
  }
}
