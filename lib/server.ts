// The path of a request:
//
//   client ─▶ server (this file): request id, access log, client-abort signal,
//             the one catch that turns errors into {"errors":[…]}
//     ├─ /healthz /help /metrics ─▶ handlers/meta.ts
//     ├─ / /status.json ─▶ handlers/status.ts (the status page)
//     ├─ /token/…  ─▶ handlers/token.ts ─▶ announced realm only
//     └─ /v2/…     ─▶ handlers/v2.ts: grammar ─▶ route (Host, ?ns=)
//                     ├─ blob, cached ─▶ handlers/cached-blob.ts
//                     │    ├─ hit for this upstream ─▶ [access check] ─▶ cache read ─▶ [verify] ─▶ client
//                     │    └─ miss ─▶ upstream client ─▶ [redirects] ─▶ [tee to cache + verify] ─▶ client
//                     └─ the rest ─▶ handlers/pass-through.ts (manifests: handlers/manifest.ts)
//                                   ─▶ upstream client ─▶ [redirects] ─▶ [header rewrite] ─▶ [verify] ─▶ client
import { randomBytes } from 'node:crypto'
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { ProxyDeps, RequestContext } from './context.js'
import { badRequest, notFound, ProxyError, toProxyError } from './errors.js'
import type { InflightRequests } from './inflight-requests.js'
import { handleHealthz, handleHelp, handleMetrics } from './handlers/meta.js'
import { handleStatusJson, handleStatusPage } from './handlers/status.js'
import { handleToken } from './handlers/token.js'
import { handleV2 } from './handlers/v2.js'
import { ClientConnections, clientAddress } from './limits/client-connections.js'
import { StalledClients } from './limits/stalled-clients.js'
import { rawErrorResponse, writeError } from './respond.js'

export interface ProxyServerOptions {
  /** ms a client may take to send its request headers (slowloris bound). */
  headersTimeout?: number
  /** ms an idle keep-alive connection stays open; runtimes reuse connections. */
  keepAliveTimeout?: number
  /** PEM certificate and key: serve HTTPS (lib/tls.ts reloads them on SIGHUP). */
  tls?: { cert: string | Buffer; key: string | Buffer }
  /** ms a TLS client may take to complete its handshake (default 10 s). */
  tlsHandshakeTimeout?: number
  /** Concurrent connections per client address; more are refused at accept (default 256, 0 = unbounded). */
  maxConnsPerClient?: number
  /** ms a client may take to send a whole request, body included (default 60 s, 0 = unbounded). */
  requestTimeout?: number
  /** ms a response may wait on a client that reads nothing before the connection is cut (default 60 s). */
  clientStallTimeout?: number
  /** Told of every request while it runs (the shutdown names the ones it cuts). */
  inflight?: InflightRequests
}

export const DEFAULT_MAX_CONNS_PER_CLIENT = 256
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT = 10_000

const hostRe = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/
const requestIdRe = /^[A-Za-z0-9._-]{1,64}$/

export function createProxyServer(deps: ProxyDeps, opts: ProxyServerOptions = {}): http.Server {
  const requests = deps.metrics.counter('crproxy_requests_total', 'Requests answered, by upstream and status')
  const open = deps.metrics.gauge('crproxy_open_connections', 'Client connections open now')
  const refusals = deps.metrics.counter('crproxy_refused_connections_total', 'Client connections refused at accept (over --max-conns-per-client)')
  const headersTimeout = opts.headersTimeout ?? 30_000
  // Node's requestTimeout bounds receiving the request (headers and body),
  // not sending the response: a token POST trickling its body is cut, a long
  // blob download is not. Node wants it no shorter than headersTimeout.
  const requestTimeout = opts.requestTimeout === 0 ? 0 : Math.max(opts.requestTimeout ?? 60_000, headersTimeout)
  const clientLimit = new ClientConnections(opts.maxConnsPerClient ?? DEFAULT_MAX_CONNS_PER_CLIENT)
  const stalls = new StalledClients(opts.clientStallTimeout ?? 60_000)
  /** Plain-HTTP connections refused at accept whose request the http module may still parse. */
  const refused = new WeakSet<Socket>()
  const server = createServer(
    opts.tls && { ...opts.tls, handshakeTimeout: opts.tlsHandshakeTimeout ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT },
    {
      headersTimeout,
      requestTimeout,
      // Node checks both timeouts only this often (default 30 s).
      connectionsCheckingInterval: Math.max(50, Math.min(5000, headersTimeout / 4)),
      keepAliveTimeout: opts.keepAliveTimeout ?? 65_000,
      maxHeaderSize: 32 * 1024,
      // Conflicting Content-Length/Transfer-Encoding are refused by llhttp.
      insecureHTTPParser: false,
    },
    (req, res) => void handle(req, res),
  )
  server.on('connection', (socket: Socket) => {
    open.inc()
    socket.once('close', () => open.dec())
    if (!clientLimit.admit(socket)) return refuse(socket)
    if (!opts.tls) stalls.watch(socket)
  })
  // Under TLS the pending output sits in the TLS socket, not the TCP one under it.
  if (opts.tls) server.on('secureConnection', (socket: Socket) => stalls.watch(socket))
  server.once('close', () => stalls.stop())
  // A handshake that failed or timed out has no HTTP to answer in. https.Server
  // passes these on to 'clientError' too, where a reply would wait for ever
  // behind the handshake that never finishes (and hold the connection open).
  server.prependListener('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    deps.log.debug('tls handshake failed', { error: err.code ?? err.message })
    socket.destroy()
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy()
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    socket.end(rawErrorResponse(new ProxyError(status, 'BAD_REQUEST', `malformed request: ${err.code ?? 'error'}`)))
  })

  /**
   * Over --max-conns-per-client: closed now, not when a request arrives, so
   * idle connections cannot pile up. Plain HTTP gets its 429 first, without
   * waiting for the request (an HTTP/1.1 client reads it as the answer to the
   * request it sends); under TLS there is no HTTP before a handshake.
   */
  function refuse(socket: Socket): void {
    refusals.inc()
    if (opts.tls) return void socket.destroy()
    refused.add(socket)
    const err = new ProxyError(429, 'TOOMANYREQUESTS', `more than ${clientLimit.max} connections from ${clientAddress(socket)}`, {
      headers: { 'retry-after': '1' },
    })
    socket.write(rawErrorResponse(err))
    // Handed to the kernel whole (the rule on a new connection): close at
    // once, in this accept, so a burst of refused connections never holds
    // descriptors together; the kernel still delivers the response.
    if (socket.writableLength === 0) socket.destroy()
    else socket.end(() => socket.destroy())
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Answered at accept already.
    if (refused.has(req.socket)) return void req.socket.destroy()
    const started = process.hrtime.bigint()
    const given = req.headers['x-request-id']
    const id = typeof given === 'string' && requestIdRe.test(given) ? given : randomBytes(8).toString('hex')
    res.setHeader('x-request-id', id)
    const raw = req.url ?? '/'
    const q = raw.indexOf('?')
    const rawPath = q === -1 ? raw : raw.slice(0, q)
    const controller = new AbortController()
    const ctx: RequestContext = {
      req,
      res,
      id,
      log: deps.log.child({ id }),
      client: clientAddress(req.socket),
      rawPath,
      query: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)),
      head: req.method === 'HEAD',
      signal: controller.signal,
    }
    const bytesBefore = req.socket.bytesWritten
    const shownPath = rawPath.length > 256 ? rawPath.slice(0, 256) + '…' : rawPath
    const ended = opts.inflight?.add({ method: req.method, path: shownPath, client: ctx.client, started: Date.now(), log: ctx.log })
    res.once('close', () => {
      ended?.()
      if (!res.writableFinished) controller.abort(new Error('client went away'))
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      const status = res.writableFinished ? res.statusCode : res.headersSent ? res.statusCode : 499
      requests.inc({ upstream: ctx.upstreamKey ?? '-', status: String(status) })
      const bytes = req.socket ? req.socket.bytesWritten - bytesBefore : undefined
      if (ctx.repository && bytes) deps.status.repositories.add(`${ctx.upstreamKey}/${ctx.repository}`, bytes)
      // Health checks (Docker's HEALTHCHECK, kubelet probes) every few seconds
      // would drown the log: a healthy answer is logged at debug only.
      const quiet = status === 200 && rawPath === '/healthz'
      ctx.log[quiet ? 'debug' : 'info']('request', {
        method: req.method,
        host: req.headers.host,
        path: shownPath,
        status,
        bytes,
        ms: Math.round(ms * 10) / 10,
        upstream: ctx.upstreamKey,
        source: ctx.source,
        aborted: res.writableFinished ? undefined : true,
      })
    })
    try {
      await dispatch(ctx, deps)
    } catch (err) {
      const e = toProxyError(err)
      if (ctx.signal.aborted) return
      if (e.status >= 500) ctx.log.warn('request failed', { error: e.message, cause: causeOf(e) })
      else ctx.log.debug('request refused', { code: e.code, error: e.message })
      writeError(res, e, ctx.head)
    }
  }

  return server
}

async function dispatch(ctx: RequestContext, deps: ProxyDeps): Promise<void> {
  const host = ctx.req.headers.host
  if (host !== undefined && !hostRe.test(host)) throw badRequest('malformed Host header')
  // RFC 9112 §3.2: more than one Host line is a 400 (Node keeps the first;
  // a front proxy might route by the last).
  const raw = ctx.req.rawHeaders
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'host') hosts++
  if (hosts > 1) throw badRequest('more than one Host header')
  const p = ctx.rawPath
  if (p === '/v2' || p.startsWith('/v2/')) return handleV2(ctx, deps)
  if (p.startsWith('/token/')) return handleToken(ctx, deps)
  if (p === '/healthz') return handleHealthz(ctx)
  if (p === '/help') return handleHelp(ctx, deps)
  if (p === '/metrics') return handleMetrics(ctx, deps)
  if (deps.status.page && p === '/') return handleStatusPage(ctx, deps)
  if (deps.status.page && p === '/status.json') return handleStatusJson(ctx, deps)
  throw notFound('no such endpoint')
}

/** HTTPS when given a certificate, else HTTP: the same options and handler either way. */
function createServer(tls: (ProxyServerOptions['tls'] & { handshakeTimeout: number }) | undefined, options: http.ServerOptions, handler: http.RequestListener): http.Server {
  return tls ? https.createServer({ ...options, ...tls }, handler) : http.createServer(options, handler)
}

function causeOf(e: Error): string | undefined {
  const c = e.cause
  return c instanceof Error ? `${c.name}: ${c.message}` : undefined
}
