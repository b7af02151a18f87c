// How a request reaches its origin:
//   direct   TCP (+ TLS for https) to the origin itself
//   tunnel   https through an http proxy: CONNECT host:port, then TLS inside
//   forward  plain http through an http proxy: absolute-form request line
//            (RFC 9112 §3.2.2) on a connection to the proxy
// Each route has its own pool, so the per-origin socket bound holds per
// (origin, proxy) pair (and, under an egress policy, per upstream the
// sockets are opened for: lib/upstream/client.ts).

import { isIP } from 'node:net'
import { proxyFor, unbracket } from './proxy-env.js'
import type { ProxyEnv } from './types.js'

export interface Endpoint {
  /** Host name or IP literal, without IPv6 brackets. */
  host: string
  port: number
}

export interface Route {
  kind: 'direct' | 'tunnel' | 'forward'
  /** Pool key. */
  key: string
  /** The target's origin ('https://host:port' as URL.origin spells it), for errors. */
  origin: string
  target: Endpoint
  /** 'host:port' with IPv6 brackets, as a CONNECT request-target (RFC 9110 §9.3.6). */
  authority: string
  /** TLS to the target (directly or inside the tunnel). */
  secure: boolean
  /** SNI name: the target host unless it is an IP literal (RFC 6066 §3 forbids those). */
  servername: string | undefined
  proxy: (Endpoint & { authorization: string | undefined }) | undefined
}

export function routeFor(url: URL, env: ProxyEnv | undefined): Route {
  const secure = url.protocol === 'https:'
  if (!secure && url.protocol !== 'http:') throw new TypeError(`unsupported protocol ${url.protocol}`)
  const host = unbracket(url.hostname)
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port)
  const authority = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
  const proxyUrl = proxyFor(url, env)
  const proxy = proxyUrl === null ? undefined : proxyEndpoint(proxyUrl)
  const kind = proxy === undefined ? 'direct' : secure ? 'tunnel' : 'forward'
  return {
    kind,
    key: proxy === undefined ? url.origin : `${url.origin} via ${proxy.host}:${proxy.port}`,
    origin: url.origin,
    target: { host, port },
    authority,
    secure,
    servername: isIP(host) === 0 ? host : undefined,
    proxy,
  }
}

function proxyEndpoint(url: URL): Endpoint & { authorization: string | undefined } {
  if (url.protocol !== 'http:') {
    throw new TypeError(`unsupported proxy protocol ${url.protocol} (only http:// proxies)`)
  }
  const port = url.port === '' ? 80 : Number(url.port)
  return { host: unbracket(url.hostname), port, authorization: basicAuth(url) }
}

/** Proxy-Authorization from the proxy URL's userinfo (RFC 9110 §11.7.1, Basic per RFC 7617). */
function basicAuth(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined
  const user = decodeURIComponent(url.username)
  const pass = decodeURIComponent(url.password)
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`
}
