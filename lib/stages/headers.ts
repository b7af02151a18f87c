// Header stages: pure functions over headers. Both directions use allow-lists,
// which strips hop-by-hop headers (RFC 9110 §7.6.1: Connection, Keep-Alive,
// Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade) and anything the upstream
// or CDN should not set on our clients (Set-Cookie, CDN internals).
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { HeaderMap } from '../upstream/types.js'

const forwardToUpstream = ['accept', 'authorization', 'range', 'if-none-match', 'if-match', 'user-agent']

/**
 * Accept-Encoding is deliberately not forwarded: blobs must arrive as stored
 * (protocol.md §14) and manifests as the bytes their digest names.
 */
export function upstreamRequestHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  const hopByHop = connectionTokens(h['connection'])
  for (const name of forwardToUpstream) {
    if (hopByHop.has(name)) continue
    const v = h[name]
    if (typeof v === 'string') out[name] = v
    else if (Array.isArray(v)) out[name] = v.join(', ')
  }
  return out
}

// Framing (Content-Length, Transfer-Encoding) is never copied: the proxy
// states the length of what it sends itself (lib/handlers/upstream-response.ts).
const passToClient = [
  'content-type',
  'content-range',
  'accept-ranges',
  'docker-content-digest',
  'docker-distribution-api-version',
  'docker-upload-uuid',
  'oci-filters-applied',
  'retry-after',
  'etag',
  'last-modified',
  'ratelimit-limit',
  'ratelimit-remaining',
  'docker-ratelimit-source',
]

export function clientResponseHeaders(h: HeaderMap): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  const hopByHop = connectionTokens(h['connection'])
  for (const name of passToClient) {
    if (hopByHop.has(name)) continue
    const v = h[name]
    if (v !== undefined) out[name] = Array.isArray(v) ? (v[0] as string) : v
  }
  // Pagination links for tags/list and referrers: keep only relative ones; an
  // absolute link would send the client around the proxy.
  const link = first(h, 'link')
  if (link && /^\s*<\//.test(link)) out['link'] = link
  return out
}

export function first(h: HeaderMap, name: string): string | undefined {
  const v = h[name]
  return Array.isArray(v) ? v[0] : v
}

export function all(h: HeaderMap, name: string): string[] {
  const v = h[name]
  return v === undefined ? [] : Array.isArray(v) ? v : [v]
}

function connectionTokens(v: string | string[] | undefined): Set<string> {
  const s = new Set<string>()
  for (const part of (Array.isArray(v) ? v.join(',') : v ?? '').split(',')) {
    const t = part.trim().toLowerCase()
    if (t) s.add(t)
  }
  return s
}
