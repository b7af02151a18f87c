// Each upstream host's last success, last error and announced rate limit,
// for the status page. Written once per upstream response (a clock read and a
// map lookup), keyed by the same bounded host label as the latency histogram.
import type { IncomingHttpHeaders } from 'node:http'
import { parseRateLimit, type RateLimit } from '../upstream/rate-limit.js'

export interface UpstreamHealthEntry {
  /** ms epoch of the last answer that was not a 5xx or 429. */
  lastSuccess?: number
  /** ms epoch and what went wrong: a failure kind (`connect`, `timeout`…) or `HTTP 503`; never a message or URL. */
  lastError?: { at: number; what: string }
  /** The last rate limit the host announced, and when. */
  rateLimit?: RateLimit & { at: number }
}

export type UpstreamHealthSnapshot = Record<string, UpstreamHealthEntry>

export class UpstreamHealth {
  readonly #hosts = new Map<string, UpstreamHealthEntry>()

  answered(host: string, status: number, headers: IncomingHttpHeaders): void {
    const e = this.#entry(host)
    const now = Date.now()
    if (status >= 500 || status === 429) e.lastError = { at: now, what: `HTTP ${status}` }
    else e.lastSuccess = now
    const limit = parseRateLimit(headers, now)
    if (limit) e.rateLimit = { ...limit, at: now }
  }

  failed(host: string, kind: string): void {
    this.#entry(host).lastError = { at: Date.now(), what: kind }
  }

  snapshot(): UpstreamHealthSnapshot {
    return Object.fromEntries([...this.#hosts].map(([h, e]) => [h, structuredClone(e)]))
  }

  #entry(host: string): UpstreamHealthEntry {
    let e = this.#hosts.get(host)
    if (!e) this.#hosts.set(host, (e = {}))
    return e
  }
}

/** Several processes' views: for each host the latest of each fact. */
export function mergeHealth(list: UpstreamHealthSnapshot[]): UpstreamHealthSnapshot {
  const out: UpstreamHealthSnapshot = {}
  for (const snap of list) {
    for (const [host, e] of Object.entries(snap)) {
      const o = (out[host] ??= {})
      if (e.lastSuccess !== undefined && (o.lastSuccess ?? -1) < e.lastSuccess) o.lastSuccess = e.lastSuccess
      if (e.lastError && (o.lastError?.at ?? -1) < e.lastError.at) o.lastError = e.lastError
      if (e.rateLimit && (o.rateLimit?.at ?? -1) < e.rateLimit.at) o.rateLimit = e.rateLimit
    }
  }
  return out
}
