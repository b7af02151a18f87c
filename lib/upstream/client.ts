// The upstream HTTP/1.1 client on raw sockets.
//
//   request ─▶ routeFor(url)     direct | CONNECT tunnel | forward proxy
//           ─▶ pool.acquire      idle keep-alive socket, new socket, or queue
//                                (one client holds at most its share; the queue has a deadline)
//           ─▶ conn.exchange     write head; resolve when the response headers are in
//           ─▶ response.body     streams with backpressure; the socket goes back to
//                                the pool once the response was received in full
// A reused socket that the server closed while it sat idle fails before any
// response byte: GET and HEAD are then sent once more on a fresh socket
// (RFC 9112 §9.3.1 allows retrying idempotent requests).

import { UpstreamError } from '../errors.js'
import { dial, type DialOptions } from './dial.js'
import { EgressPolicy } from './egress.js'
import { Pool } from './pool.js'
import { requestHead } from './request-head.js'
import { routeFor, type Route } from './route.js'
import type { ExchangeOptions } from './exchange.js'
import type { Transport, UpstreamClientOptions, UpstreamRequest, UpstreamResponse } from './types.js'

export { proxyEnvFromProcess } from './proxy-env.js'

/** How long an idle keep-alive socket is kept (shorter if the server says so). */
export const KEEP_ALIVE_MS = 30_000

export function defaultClientOptions(): UpstreamClientOptions {
  return { connectTimeout: 5000, headerTimeout: 30_000, idleTimeout: 30_000, maxSocketsPerOrigin: 32, queueTimeout: 10_000 }
}

/** One client's share of an origin's sockets when not configured: half, rounded up. */
export function defaultSocketsPerClient(maxSocketsPerOrigin: number): number {
  return Math.ceil(maxSocketsPerOrigin / 2)
}

export class UpstreamClient implements Transport {
  private readonly opts: UpstreamClientOptions
  private readonly pools = new Map<string, Pool>()
  private readonly dialOpts: DialOptions
  private closed = false

  constructor(opts: UpstreamClientOptions) {
    this.opts = opts
    this.dialOpts = {
      connectTimeout: opts.connectTimeout,
      tls: opts.tls,
      egress: opts.egress ? new EgressPolicy(opts.egress) : undefined,
    }
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    req.signal?.throwIfAborted()
    const route = routeFor(req.url, this.opts.proxy)
    const head = requestHead(req, route)
    if (this.closed) throw new UpstreamError('connect', route.origin, 'upstream client is closed')
    const max = this.opts.maxInflight ?? 0
    if (max > 0 && this.inflight() >= max) {
      throw new UpstreamError('overload', route.origin, `${max} upstream requests in flight: try again shortly`)
    }
    const exchange: ExchangeOptions = {
      method: req.method,
      url: req.url,
      headerTimeout: this.opts.headerTimeout,
      idleTimeout: this.opts.idleTimeout,
      signal: req.signal,
    }
    const first = await this.pool(route, req.upstream).acquire({ signal: req.signal, client: req.client })
    try {
      return await first.conn.exchange(head, req.body, exchange)
    } catch (err) {
      const stale = first.reused && !first.conn.responded && err instanceof UpstreamError && err.kind === 'reset'
      if (!stale || (req.method !== 'GET' && req.method !== 'HEAD')) throw err
    }
    const second = await this.pool(route, req.upstream).acquire({ signal: req.signal, client: req.client, fresh: true })
    return second.conn.exchange(head, req.body, exchange)
  }

  /** Destroys idle sockets and rejects queued requests; later requests fail. */
  close(): void {
    this.closed = true
    for (const pool of this.pools.values()) pool.close()
    this.pools.clear()
  }

  /**
   * The configured upstreams changed (registry map reloaded): the egress
   * guard trusts these upstreams' own hosts and ports from now on. Idle
   * sockets are closed, so none opened under the old rules is reused.
   */
  setUpstreams(urls: string[]): void {
    this.dialOpts.egress?.setUpstreams(urls)
    this.closeIdle()
  }

  /** Destroys idle keep-alive sockets (busy ones are untouched); the client stays usable. */
  closeIdle(): void {
    for (const pool of this.pools.values()) pool.closeIdle()
  }

  /** Requests holding a socket (busy or dialling) or queued for one. */
  inflight(): number {
    const s = this.stats()
    return s.open - s.idle + s.queued
  }

  stats(): { open: number; idle: number; queued: number } {
    const total = { open: 0, idle: 0, queued: 0 }
    for (const pool of this.pools.values()) {
      const s = pool.stats()
      total.open += s.open
      total.idle += s.idle
      total.queued += s.queued
    }
    return total
  }

  /**
   * Under an egress policy a socket is dialled, and checked, for one
   * upstream: another upstream's request to the same origin must not reuse
   * it without its own check, so each upstream has its own pools.
   */
  private pool(route: Route, upstream: string | undefined): Pool {
    const key = this.dialOpts.egress === undefined ? route.key : `${route.key} for ${upstream ?? '-'}`
    let pool = this.pools.get(key)
    if (pool === undefined) {
      const max = this.opts.maxSocketsPerOrigin
      const created = new Pool({
        origin: route.origin,
        max,
        perClient: Math.max(1, Math.min(max, this.opts.socketsPerClient ?? defaultSocketsPerClient(max))),
        queueTimeout: this.opts.queueTimeout ?? 0,
        keepAlive: KEEP_ALIVE_MS,
        dial: (signal) => dial(route, this.dialOpts, upstream, signal),
        onEmpty: () => {
          if (this.pools.get(key) === created) this.pools.delete(key)
        },
      })
      this.pools.set(key, created)
      pool = created
    }
    return pool
  }
}
