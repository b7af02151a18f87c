// The rate limits an upstream announces, for the status page (and anything
// that wants to back off). Docker Hub sends `ratelimit-limit: 100;w=21600`
// and `ratelimit-remaining: 76;w=21600` (a count and its window in seconds,
// after the IETF RateLimit header draft); a 429 or 503 may carry
// `Retry-After` in seconds or as an HTTP-date (RFC 9110 §10.2.3).
import type { IncomingHttpHeaders } from 'node:http'

export interface RateLimit {
  limit?: number
  remaining?: number
  /** The window `limit` counts over. */
  windowSeconds?: number
  retryAfterSeconds?: number
}

/** Undefined when the response announces none of these. */
export function parseRateLimit(headers: IncomingHttpHeaders, now = Date.now()): RateLimit | undefined {
  const out: RateLimit = {}
  const limit = quota(headers['ratelimit-limit'])
  const remaining = quota(headers['ratelimit-remaining'])
  if (limit) {
    out.limit = limit.count
    if (limit.window !== undefined) out.windowSeconds = limit.window
  }
  if (remaining) {
    out.remaining = remaining.count
    if (out.windowSeconds === undefined && remaining.window !== undefined) out.windowSeconds = remaining.window
  }
  const retry = retryAfter(headers['retry-after'], now)
  if (retry !== undefined) out.retryAfterSeconds = retry
  return Object.keys(out).length ? out : undefined
}

/** `100;w=21600` → { count: 100, window: 21600 }; null for anything else. */
function quota(value: string | string[] | undefined): { count: number; window?: number } | null {
  const v = first(value)
  if (v === undefined) return null
  const [count, ...params] = v.split(';').map((s) => s.trim())
  if (!count || !/^\d{1,12}$/.test(count)) return null
  let window: number | undefined
  for (const p of params) {
    const m = /^w\s*=\s*(\d{1,12})$/i.exec(p)
    if (m) window = Number(m[1])
  }
  return { count: Number(count), ...(window !== undefined ? { window } : {}) }
}

function retryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const v = first(value)?.trim()
  if (!v) return undefined
  if (/^\d{1,12}$/.test(v)) return Number(v)
  // An HTTP-date names a day of the week; Date.parse alone would take "5" or "2024" too.
  if (!/^[A-Za-z]{3,9},? /.test(v)) return undefined
  const at = Date.parse(v)
  if (Number.isNaN(at)) return undefined
  return Math.max(0, Math.ceil((at - now) / 1000))
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}
