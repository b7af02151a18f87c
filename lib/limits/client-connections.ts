// Concurrent connections per client address (--max-conns-per-client). A
// connection accepted while its address already holds `max` is marked; its
// requests are answered 429 TOOMANYREQUESTS with Retry-After and the
// connection is closed, so a well-behaved client backs off and a flood costs
// one small response per connection. Marked connections still count: opening
// more of them does not help. IPv4-mapped IPv6 addresses count as their IPv4
// address. Behind a reverse proxy every connection comes from its address:
// raise the limit or set it to 0 there (docs/security.md).
import type { Socket } from 'node:net'

export class ClientConnections {
  readonly #max: number
  readonly #open = new Map<string, number>()
  /** `address|port` of marked connections (the TLS socket and its TCP socket share them). */
  readonly #over = new Set<string>()

  /** max 0 = unbounded. */
  constructor(max: number) {
    this.#max = max
  }

  /** Counts a new connection; false when it is over the limit (and marked). */
  admit(socket: Socket): boolean {
    if (this.#max <= 0) return true
    const ip = clientAddress(socket)
    const n = this.#open.get(ip) ?? 0
    this.#open.set(ip, n + 1)
    const key = socketKey(socket)
    const over = n >= this.#max
    if (over) this.#over.add(key)
    socket.once('close', () => {
      const left = (this.#open.get(ip) ?? 1) - 1
      if (left <= 0) this.#open.delete(ip)
      else this.#open.set(ip, left)
      this.#over.delete(key)
    })
    return !over
  }

  /** Was this connection (or the TLS connection over it) marked at accept time? */
  isOver(socket: Socket): boolean {
    return this.#over.size > 0 && this.#over.has(socketKey(socket))
  }

  get max(): number {
    return this.#max
  }
}

export function clientAddress(socket: Socket): string {
  const a = socket.remoteAddress ?? '?'
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}

function socketKey(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}|${socket.remotePort ?? 0}`
}
