// Response header block → HeaderMap, and the keep-alive decision.

import type { HeaderMap } from './types.js'

// Field values that cannot be combined with commas (RFC 9110 §5.3): challenges
// contain commas themselves, and Set-Cookie is the documented exception. Kept
// as arrays when repeated.
const LISTS_AS_ARRAY = new Set(['www-authenticate', 'proxy-authenticate', 'set-cookie'])

// Singleton fields: a repeat is an upstream bug; keep the first, as Node does.
const SINGLETONS = new Set([
  'age',
  'content-length',
  'content-location',
  'content-range',
  'content-type',
  'date',
  'etag',
  'expires',
  'last-modified',
  'location',
  'retry-after',
  'server',
  'docker-content-digest',
])

/** raw is [name, value, name, value, …] as the parser gives it. */
export function toHeaderMap(raw: readonly string[]): HeaderMap {
  const out: HeaderMap = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase()
    const value = raw[i + 1] as string
    const prev = out[name]
    if (prev === undefined) out[name] = value
    else if (LISTS_AS_ARRAY.has(name)) out[name] = Array.isArray(prev) ? [...prev, value] : [prev, value]
    else if (!SINGLETONS.has(name)) out[name] = `${prev as string}, ${value}`
  }
  return out
}

function tokens(headers: HeaderMap, name: string): string[] {
  const v = headers[name]
  if (v === undefined) return []
  return (Array.isArray(v) ? v.join(',') : v)
    .toLowerCase()
    .split(',')
    .map((s) => s.trim())
}

/**
 * May the connection carry another request after this response (RFC 9112 §9.3)?
 * HTTP/1.1 persists unless `Connection: close`; HTTP/1.0 only with
 * `Connection: keep-alive`. framed says the body's end is known without EOF.
 * (Ambiguous framing never gets this far: lib/upstream/response-framing.ts.)
 */
export function keepAliveAllowed(
  major: number,
  minor: number,
  headers: HeaderMap,
  framed: boolean,
): boolean {
  if (!framed) return false
  const conn = tokens(headers, 'connection')
  if (major === 1 && minor >= 1) return !conn.includes('close')
  return major === 1 && conn.includes('keep-alive')
}

/** ms from `Keep-Alive: timeout=N` (RFC 2068 §19.7.1.1), or null. */
export function keepAliveHint(headers: HeaderMap): number | null {
  for (const t of tokens(headers, 'keep-alive')) {
    const m = /^timeout\s*=\s*(\d+)$/.exec(t)
    if (m) return Number(m[1]) * 1000
  }
  return null
}
