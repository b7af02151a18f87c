import type { Readable } from 'node:stream'
import type { Logger } from '../log.js'
import type { Chain } from './chain.js'

/** Lowercase header names; repeated headers (WWW-Authenticate) become arrays. */
export type HeaderMap = Record<string, string | string[]>

export interface UpstreamRequest {
  method: 'GET' | 'HEAD' | 'POST'
  url: URL
  /** Sent as given, plus Host (from url) and framing headers the client adds. */
  headers: Record<string, string>
  /** Small bodies only (token POSTs): sent with Content-Length. */
  body?: Buffer
  /** Aborting destroys the socket (it never goes back to the pool) and the body. */
  signal?: AbortSignal
  /**
   * The origin of the configured upstream (map entry) this request is made
   * for, kept across redirects. Under an egress policy the request reaches
   * that upstream's own host and port wherever they resolve, and any other
   * non-public address only as --redirect-allow says; a request for no
   * configured upstream owns no host (lib/upstream/egress.ts).
   */
  upstream?: string
  /**
   * Who the request is for (a client address): one client holds at most its
   * share of an origin's sockets. Absent: the proxy's own request, not limited.
   */
  client?: string
  /** The client request's logger: each redirect hop is logged on it (debug). */
  log?: Logger
  /**
   * The map entry's upstreams, when the request may fail over to the next
   * (lib/upstream/failover.ts); the URL is aimed at the first.
   */
  chain?: Chain
}

export interface UpstreamResponse {
  status: number
  statusText: string
  headers: HeaderMap
  /**
   * The body, streamed with backpressure. Empty and already ended for HEAD,
   * 204 and 304. It errors with UpstreamError('reset'|'timeout'|'protocol')
   * when the upstream dies mid-body, sends fewer bytes than Content-Length, or
   * goes idle. The socket returns to the pool only after the body was read to
   * its end; destroying the body destroys the socket.
   */
  body: Readable
  /** The URL this response came from. */
  url: URL
  /**
   * The member of a failover chain that answered (lib/upstream/failover.ts):
   * its challenges name it, so its realm and tokens stay its own.
   */
  member?: string
}

/**
 * What sends an UpstreamRequest: the client, or a wrapper around one
 * (timing, credentials, redirects; composed once in lib/proxy.ts buildDeps).
 */
export interface Transport {
  request(req: UpstreamRequest): Promise<UpstreamResponse>
  /** Closes the client underneath (proxy shutdown). */
  close(): void
  /** A reloaded registry map: the egress policy knows these upstreams from now on (lib/upstream/egress.ts). */
  setUpstreams(urls: string[]): void
}

export interface UpstreamClientOptions {
  /** ms to establish TCP (+ TLS, + CONNECT tunnel). */
  connectTimeout: number
  /** ms from request written to complete response headers. */
  headerTimeout: number
  /** ms without a byte while reading a body. */
  idleTimeout: number
  /** Bound on concurrent sockets per origin; further requests queue. */
  maxSocketsPerOrigin: number
  /**
   * Sockets of one origin a single client may hold at once; its further
   * requests queue even while sockets are free. Default: half of
   * maxSocketsPerOrigin, rounded up.
   */
  socketsPerClient?: number
  /**
   * ms a request may wait in an origin's queue before it fails with
   * UpstreamError('overload') (503 with Retry-After). 0 or absent: no limit.
   */
  queueTimeout?: number
  /** Outbound proxy configuration (from http_proxy / https_proxy / no_proxy). */
  proxy?: ProxyEnv
  /** Extra CA certificates or rejectUnauthorized=false, for tests with TLS upstreams. */
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean }
  /** Where connections may go besides the configured upstreams (lib/upstream/egress.ts); absent: anywhere. */
  egress?: EgressOptions
  /**
   * Bound on requests in flight across all origins (holding or waiting for a
   * socket); beyond it requests fail at once with UpstreamError('overload').
   * 0 or absent: unbounded.
   */
  maxInflight?: number
}

export interface ProxyEnv {
  http?: URL
  https?: URL
  /** Entries of no_proxy: host names, .domain suffixes, '*', optional :port. */
  noProxy: string[]
}

/** Where connections may go besides the configured upstreams (lib/upstream/egress.ts). */
export interface EgressOptions {
  /** Base URLs of the configured upstreams. */
  upstreams: string[]
  /** --redirect-allow: host, .suffix, *.suffix, IP or CIDR, each optionally :port (as no_proxy). */
  allow: string[]
}
