// What an upstream says of its rate limit, read from its response headers:
//
//   Docker Hub      ratelimit-limit: 100;w=21600   ratelimit-remaining: 76;w=21600
//   IETF draft      RateLimit-Limit: 100  RateLimit-Remaining: 50  RateLimit-Reset: 30
//   GitHub & co.    X-RateLimit-Limit / X-RateLimit-Remaining
//   any 429 or 503  Retry-After: 120   or an HTTP-date (RFC 9110 §10.2.3)
//
// A parser: a value or undefined, never a throw.
import type { IncomingHttpHeaders } from 'node:http'

export interface RateLimit {
  limit?: number
  remaining?: number
  windowSeconds?: number
  retryAfterSeconds?: number
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** `100;w=21600` → count and window; a list (`100, 100;w=60`) is read by its first item. */
function quota(v: string | undefined): { n: number; w?: number } | undefined {
  if (v === undefined) return undefined
  const item = v.split(',')[0]!.trim()
  const m = /^(\d{1,12})\s*(?:;(.*))?$/.exec(item)
  if (!m) return undefined
  const w = /(?:^|;)\s*w\s*=\s*(\d{1,12})\s*(?:;|$)/.exec(m[2] ?? '')
  return { n: Number(m[1]), ...(w ? { w: Number(w[1]) } : {}) }
}

/** Seconds to wait: delta-seconds, or an HTTP-date from now (never negative). */
export function parseRetryAfter(v: string | undefined, now = Date.now()): number | undefined {
  if (v === undefined) return undefined
  const s = v.trim()
  if (/^\d{1,10}$/.test(s)) return Number(s)
  if (!/[a-z]/i.test(s)) return undefined
  const at = Date.parse(s)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000))
}

export function parseRateLimit(headers: IncomingHttpHeaders, now = Date.now()): RateLimit | undefined {
  const h = (name: string) => firstValue(headers[name])
  const limit = quota(h('ratelimit-limit') ?? h('x-ratelimit-limit'))
  const remaining = quota(h('ratelimit-remaining') ?? h('x-ratelimit-remaining'))
  const retryAfterSeconds = parseRetryAfter(h('retry-after'), now)
  const out: RateLimit = {}
  if (limit) out.limit = limit.n
  if (remaining) out.remaining = remaining.n
  const w = limit?.w ?? remaining?.w
  if (w !== undefined) out.windowSeconds = w
  if (retryAfterSeconds !== undefined) out.retryAfterSeconds = retryAfterSeconds
  return Object.keys(out).length ? out : undefined
}
