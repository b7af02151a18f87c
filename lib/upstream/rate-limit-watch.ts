// Rate limits seen coming: every upstream answer's rate-limit headers
// (rate-limit.ts) become gauges per upstream, a warning when less than a
// tenth of the limit remains, and, in a failover chain, the member is taken
// out of rotation once nothing remains, before its 429s start.
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { RateLimit } from './rate-limit.js'

/** Below this share of the limit, a warning. */
export const LOW_SHARE = 0.1
/** One warning per upstream per this long while it stays low. */
const WARN_EVERY = 5 * 60_000

export class RateLimitWatch {
  readonly #limit: ReturnType<Metrics['gauge']>
  readonly #remaining: ReturnType<Metrics['gauge']>
  readonly #window: ReturnType<Metrics['gauge']>
  readonly #retryAfter: ReturnType<Metrics['gauge']>
  readonly #warned = new Map<string, { at: number; spent: boolean }>()

  constructor(
    metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.#limit = metrics.gauge('crproxy_upstream_ratelimit_limit', 'Requests the upstream allows per window, as its last answer said (ratelimit-limit)')
    this.#remaining = metrics.gauge('crproxy_upstream_ratelimit_remaining', 'Requests left in the window, as the upstream last said (ratelimit-remaining)')
    this.#window = metrics.gauge('crproxy_upstream_ratelimit_window_seconds', 'The rate-limit window the upstream announced (;w=)')
    this.#retryAfter = metrics.gauge('crproxy_upstream_retry_after_seconds', 'Retry-After of the upstream’s last 429 or 503')
  }

  /** Records what one answer of `member` (a base URL of map entry `key`) said. */
  observe(key: string, member: string, status: number, rl: RateLimit | undefined, now = Date.now()): void {
    if (!rl) return
    const labels = { upstream: key, member }
    if (rl.limit !== undefined) this.#limit.set(rl.limit, labels)
    if (rl.remaining !== undefined) this.#remaining.set(rl.remaining, labels)
    if (rl.windowSeconds !== undefined) this.#window.set(rl.windowSeconds, labels)
    if (rl.retryAfterSeconds !== undefined && (status === 429 || status === 503)) this.#retryAfter.set(rl.retryAfterSeconds, labels)
    if (rl.limit === undefined || rl.remaining === undefined || rl.limit <= 0) return
    if (rl.remaining >= rl.limit * LOW_SHARE) {
      this.#warned.delete(member)
      return
    }
    // Once when it runs low, again every WARN_EVERY, and once more when it is spent.
    const last = this.#warned.get(member)
    const spent = rl.remaining === 0
    if (last && now - last.at < WARN_EVERY && (last.spent || !spent)) return
    this.#warned.set(member, { at: now, spent })
    this.log.warn('upstream rate limit running out', { upstream: key, member, limit: rl.limit, remaining: rl.remaining, window_s: rl.windowSeconds })
  }
}

/**
 * A spent limit: how long to leave the upstream alone (ms). Retry-After when
 * it sent one; else its window, at most `cap` (a sliding window frees a slot
 * before it ends, and one request then tells).
 */
export function spentFor(rl: RateLimit | undefined, cap: number): number | undefined {
  if (!rl || rl.remaining !== 0) return undefined
  if (rl.retryAfterSeconds !== undefined) return rl.retryAfterSeconds * 1000
  return Math.min((rl.windowSeconds ?? 0) * 1000, cap)
}
