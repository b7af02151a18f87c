// Keep-alive sockets of one route, at most `max` of them open (dialling, busy
// or idle), with a FIFO queue of requests waiting for one.
//
//   acquire ─▶ queue ─▶ dispatch: for each waiter in order whose client is
//                       under its share:
//                         idle socket (most recently used first)
//                         or dial a new one, if fewer than max are open
//   released(reusable) ─▶ first eligible waiter, or park idle (unref'd,
//                         closes after keepAlive ms)
//   died ─▶ open - 1, and a waiter may dial
//   queueTimeout ─▶ a waiter still queued fails with UpstreamError('overload')
//
// A client (the address a request is for) holds at most `perClient` sockets
// at once, even while others sit idle: slow readers from one address cannot
// take every socket of an origin and starve everyone else. Requests without
// a client (the proxy's own: map fetches, --auth-file tokens) are not
// limited.
//
// A waiter handed a socket gets it in a promise continuation, never inside
// the parser callback that released it.

import { UpstreamError } from '../errors.js'
import { Connection, type ConnectionHooks } from './connection.js'
import type { Socket } from 'node:net'

export interface PoolOptions {
  origin: string
  max: number
  /** Sockets one client may hold at once (busy or dialling); at most max. */
  perClient: number
  /** ms a request may wait for a socket; 0 = as long as it takes. */
  queueTimeout: number
  /** ms an idle socket is kept, unless the server's Keep-Alive hint is shorter. */
  keepAlive: number
  dial(signal: AbortSignal | undefined): Promise<Socket>
  /** Nothing open and nobody waiting: the owner may forget this pool. */
  onEmpty(): void
}

export interface AcquireOptions {
  signal?: AbortSignal
  /** Whose share the socket counts against; absent: nobody's. */
  client?: string
  /** Do not take an idle socket. */
  fresh?: boolean
}

export interface Lease {
  conn: Connection
  /** The socket served a request before: a failure before any response byte may be staleness. */
  reused: boolean
}

interface Waiter {
  resolve(lease: Lease): void
  reject(err: unknown): void
  signal: AbortSignal | undefined
  client: string | undefined
  fresh: boolean
  onAbort: () => void
  timer: NodeJS.Timeout | null
}

// Leave the server's keep-alive window this early: the request must reach it
// before it closes the socket.
const HINT_MARGIN_MS = 1000

export class Pool {
  private readonly opts: PoolOptions
  private readonly idle: Connection[] = []
  private readonly queue: Waiter[] = []
  /** Busy sockets and the client each is held for. */
  private readonly owners = new Map<Connection, string | undefined>()
  /** Sockets held (busy or dialling) per client. */
  private readonly held = new Map<string, number>()
  private open = 0
  private closed = false
  private dispatching = false
  private redispatch = false
  private readonly hooks: ConnectionHooks = {
    released: (conn, reusable) => this.released(conn, reusable),
    died: (conn) => this.died(conn),
  }

  constructor(opts: PoolOptions) {
    this.opts = opts
  }

  /** A connection for one request. */
  acquire(opts: AcquireOptions = {}): Promise<Lease> {
    const { signal, client, fresh = false } = opts
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.closed) return Promise.reject(this.closedError())
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        client,
        fresh,
        timer: null,
        onAbort: () => {
          this.dequeue(waiter)
          reject(signal?.reason)
        },
      }
      this.queue.push(waiter)
      this.dispatch()
      if (!this.queue.includes(waiter)) return
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      const wait = this.opts.queueTimeout
      if (wait > 0) {
        waiter.timer = setTimeout(() => {
          this.dequeue(waiter)
          reject(new UpstreamError('overload', this.opts.origin, `no connection to ${this.opts.origin} free within ${wait / 1000} s: try again shortly`))
        }, wait)
        waiter.timer.unref()
      }
    })
  }

  stats(): { open: number; idle: number; queued: number } {
    return { open: this.open, idle: this.idle.length, queued: this.queue.length }
  }

  /** Destroys idle sockets and rejects waiters; busy sockets close when their response ends. */
  close(): void {
    this.closed = true
    for (const w of [...this.queue]) {
      this.dequeue(w)
      w.reject(this.closedError())
    }
    for (const conn of [...this.idle]) conn.kill()
  }

  /** Destroys the idle sockets only. */
  closeIdle(): void {
    for (const conn of [...this.idle]) conn.kill()
  }

  /**
   * Serves waiters in order, skipping those whose client holds its share.
   * kill() reports a death synchronously, which dispatches again: such
   * nested calls are folded into this loop.
   */
  private dispatch(): void {
    if (this.dispatching) {
      this.redispatch = true
      return
    }
    this.dispatching = true
    try {
      do {
        this.redispatch = false
        this.serveQueue()
      } while (this.redispatch)
    } finally {
      this.dispatching = false
    }
  }

  private serveQueue(): void {
    for (let i = 0; i < this.queue.length && !this.closed; ) {
      const w = this.queue[i] as Waiter
      if (!this.mayHold(w.client)) {
        i++
        continue
      }
      if (!w.fresh && this.idle.length > 0) {
        const conn = this.idle.pop() as Connection
        this.dequeue(w)
        this.hold(conn, w.client)
        w.resolve({ conn, reused: true })
        continue
      }
      if (this.open < this.opts.max) {
        this.dequeue(w)
        this.connect(w.client, w.signal).then(w.resolve, w.reject)
        continue
      }
      // A fresh socket is wanted and every slot is taken: make room by
      // closing the oldest idle socket, if any.
      const oldest = this.idle[0]
      if (w.fresh && oldest !== undefined) {
        oldest.kill()
        continue
      }
      return
    }
  }

  private mayHold(client: string | undefined): boolean {
    return client === undefined || (this.held.get(client) ?? 0) < this.opts.perClient
  }

  private hold(conn: Connection | null, client: string | undefined): void {
    if (conn !== null) this.owners.set(conn, client)
    if (client !== undefined) this.held.set(client, (this.held.get(client) ?? 0) + 1)
  }

  private letGo(client: string | undefined): void {
    if (client === undefined) return
    const left = (this.held.get(client) ?? 1) - 1
    if (left <= 0) this.held.delete(client)
    else this.held.set(client, left)
  }

  /** The socket is no longer busy: its client's share has room again. */
  private unown(conn: Connection): void {
    if (!this.owners.has(conn)) return
    const client = this.owners.get(conn)
    this.owners.delete(conn)
    this.letGo(client)
  }

  private connect(client: string | undefined, signal: AbortSignal | undefined): Promise<Lease> {
    this.open++
    this.hold(null, client)
    return this.opts.dial(signal).then(
      (socket) => {
        const conn = new Connection(socket, this.opts.origin, this.hooks)
        this.owners.set(conn, client)
        if (this.closed) {
          conn.kill()
          throw this.closedError()
        }
        return { conn, reused: false }
      },
      (err: unknown) => {
        this.open--
        this.letGo(client)
        this.dispatch()
        throw err
      },
    )
  }

  private released(conn: Connection, reusable: boolean): void {
    this.unown(conn)
    const next = this.queue.find((w) => this.mayHold(w.client))
    if (!reusable || this.closed || next?.fresh === true) {
      conn.kill()
      return
    }
    if (next !== undefined) {
      this.dequeue(next)
      this.hold(conn, next.client)
      next.resolve({ conn, reused: true })
      return
    }
    const hint = conn.keepAliveHint
    const keep = hint === null ? this.opts.keepAlive : Math.min(this.opts.keepAlive, hint - HINT_MARGIN_MS)
    if (keep <= 0) {
      conn.kill()
      return
    }
    conn.park(keep)
    this.idle.push(conn)
  }

  private died(conn: Connection): void {
    const i = this.idle.indexOf(conn)
    if (i !== -1) this.idle.splice(i, 1)
    this.unown(conn)
    this.open--
    this.dispatch()
    if (this.open === 0 && this.queue.length === 0) this.opts.onEmpty()
  }

  private dequeue(w: Waiter): void {
    const i = this.queue.indexOf(w)
    if (i !== -1) this.queue.splice(i, 1)
    w.signal?.removeEventListener('abort', w.onAbort)
    if (w.timer !== null) clearTimeout(w.timer)
  }

  private closedError(): UpstreamError {
    return new UpstreamError('connect', this.opts.origin, 'upstream client is closed')
  }
}
