// Concurrent connections per client address (--max-conns-per-client). A
// connection accepted while its address already holds `max` is refused at
// once (lib/server.ts answers 429 TOOMANYREQUESTS with Retry-After on plain
// HTTP and closes it without waiting for a request), so a flood of idle
// connections from one address costs one file descriptor per connection for
// a moment only, not until a timeout. Refused connections are not counted.
// IPv4-mapped IPv6 addresses count as their IPv4 address. Behind a reverse
// proxy every connection comes from its address: raise the limit or set it
// to 0 there (docs/security.md).
import type { Socket } from 'node:net'

export class ClientConnections {
  readonly #max: number
  readonly #open = new Map<string, number>()

  /** max 0 = unbounded. */
  constructor(max: number) {
    this.#max = max
  }

  /** Counts a new connection, or returns false (and counts nothing) when its address holds max already. */
  admit(socket: Socket): boolean {
    if (this.#max <= 0) return true
    const ip = clientAddress(socket)
    const n = this.#open.get(ip) ?? 0
    if (n >= this.#max) return false
    this.#open.set(ip, n + 1)
    socket.once('close', () => {
      const left = (this.#open.get(ip) ?? 1) - 1
      if (left <= 0) this.#open.delete(ip)
      else this.#open.set(ip, left)
    })
    return true
  }

  get max(): number {
    return this.#max
  }
}

export function clientAddress(socket: Socket): string {
  const a = socket.remoteAddress ?? '?'
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}
