// Serialises the request line and header block (RFC 9112 §3, §5).

import type { Route } from './route.js'
import type { UpstreamRequest } from './types.js'

// Framing and connection management are ours to decide, whatever the caller
// passes: Host comes from the URL (RFC 9112 §3.2), Content-Length from the
// body, and hop-by-hop fields never cross a hop (RFC 9110 §7.6.1).
const OWNED = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'upgrade',
  'trailer',
])

// RFC 9110 §5.1 token, §5.5 field-value (no CR, LF or NUL).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const BAD_VALUE = /[\r\n\0]/

export function requestHead(req: UpstreamRequest, route: Route): Buffer {
  const url = req.url
  // origin-form for direct and tunnelled requests, absolute-form to a forward proxy.
  const path = `${url.pathname || '/'}${url.search}`
  const target = route.kind === 'forward' ? `${url.protocol}//${url.host}${path}` : path
  let head = `${req.method} ${target} HTTP/1.1\r\nHost: ${url.host}\r\n`
  for (const [name, value] of Object.entries(req.headers)) {
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`)
    if (BAD_VALUE.test(value)) throw new TypeError(`invalid value for header ${name}`)
    if (OWNED.has(name.toLowerCase())) continue
    head += `${name}: ${value}\r\n`
  }
  if (route.kind === 'forward' && route.proxy?.authorization !== undefined) {
    head += `Proxy-Authorization: ${route.proxy.authorization}\r\n`
  }
  if (req.body !== undefined || req.method === 'POST') {
    head += `Content-Length: ${req.body?.length ?? 0}\r\n`
  }
  head += 'Connection: keep-alive\r\n\r\n'
  // latin1 keeps obs-text bytes as they were given instead of UTF-8 expanding them.
  return Buffer.from(head, 'latin1')
}
