// Keep-alive sockets of one route, at most `max` of them open (dialling, busy
// or idle), with a FIFO queue of requests waiting for one.
//
//   acquire ─▶ idle socket (most recently used first)
//           ─▶ or dial a new one, if fewer than max are open
//           ─▶ or wait in the queue
//   released(reusable) ─▶ first waiter, or park idle (unref'd, closes after keepAlive ms)
//   died ─▶ open - 1, and a waiter may dial
//
// A waiter handed a socket gets it in a promise continuation, never inside
// the parser callback that released it.

import { UpstreamError } from '../errors.js'
import { Connection, type ConnectionHooks } from './connection.js'
import type { Socket } from 'node:net'

export interface PoolOptions {
  origin: string
  max: number
  /** ms an idle socket is kept, unless the server's Keep-Alive hint is shorter. */
  keepAlive: number
  dial(signal: AbortSignal | undefined): Promise<Socket>
  /** Nothing open and nobody waiting: the owner may forget this pool. */
  onEmpty(): void
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
  onAbort: () => void
  fresh: boolean
}

// Leave the server's keep-alive window this early: the request must reach it
// before it closes the socket.
const HINT_MARGIN_MS = 1000

export class Pool {
  private readonly opts: PoolOptions
  private readonly idle: Connection[] = []
  private readonly queue: Waiter[] = []
  private open = 0
  private closed = false
  private readonly hooks: ConnectionHooks = {
    released: (conn, reusable) => this.released(conn, reusable),
    died: (conn) => this.died(conn),
  }

  constructor(opts: PoolOptions) {
    this.opts = opts
  }

  /** A connection for one request. fresh: do not take an idle one. */
  acquire(signal: AbortSignal | undefined, fresh = false): Promise<Lease> {
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.closed) return Promise.reject(this.closedError())
    if (!fresh) {
      const conn = this.idle.pop()
      if (conn !== undefined) return Promise.resolve({ conn, reused: true })
    } else if (this.open >= this.opts.max) {
      // Make room by closing the oldest idle socket, if any.
      this.idle[0]?.kill()
    }
    if (this.open < this.opts.max) return this.connect(signal)
    return new Promise<Lease>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        fresh,
        onAbort: () => {
          this.dequeue(waiter)
          reject(signal?.reason)
        },
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      this.queue.push(waiter)
    })
  }

  stats(): { open: number; idle: number; queued: number } {
    return { open: this.open, idle: this.idle.length, queued: this.queue.length }
  }

  /** Destroys idle sockets and rejects waiters; busy sockets close when their response ends. */
  close(): void {
    this.closed = true
    for (const w of this.queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort)
      w.reject(this.closedError())
    }
    for (const conn of [...this.idle]) conn.kill()
  }

  /** Destroys the idle sockets only. */
  closeIdle(): void {
    for (const conn of [...this.idle]) conn.kill()
  }

  private connect(signal: AbortSignal | undefined): Promise<Lease> {
    this.open++
    return this.opts.dial(signal).then(
      (socket) => {
        const conn = new Connection(socket, this.opts.origin, this.hooks)
        if (this.closed) {
          conn.kill()
          throw this.closedError()
        }
        return { conn, reused: false }
      },
      (err: unknown) => {
        this.open--
        this.drain()
        throw err
      },
    )
  }

  private released(conn: Connection, reusable: boolean): void {
    const next = this.queue[0]
    if (!reusable || this.closed || next?.fresh === true) {
      conn.kill()
      return
    }
    if (next !== undefined) {
      this.dequeue(next)
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
    this.open--
    this.drain()
    if (this.open === 0 && this.queue.length === 0) this.opts.onEmpty()
  }

  /** Dial for waiters while there is room. */
  private drain(): void {
    while (!this.closed && this.open < this.opts.max) {
      const w = this.queue[0]
      if (w === undefined) return
      this.dequeue(w)
      this.connect(w.signal).then(w.resolve, w.reject)
    }
  }

  private dequeue(w: Waiter): void {
    const i = this.queue.indexOf(w)
    if (i !== -1) this.queue.splice(i, 1)
    w.signal?.removeEventListener('abort', w.onAbort)
  }

  private closedError(): UpstreamError {
    return new UpstreamError('connect', this.opts.origin, 'upstream client is closed')
  }
}
