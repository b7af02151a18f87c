// Health of each upstream a chain may use (lib/upstream/failover.ts), by
// base URL, shared by every map entry naming it and kept across reloads.
//
//   healthy ──failure (connect, timeout, 5xx, 429, remaining 0)──▶ unhealthy
//      ▲                                              │ backoff: initial·2^(n-1), capped;
//      │                                              │ never before a Retry-After
//      └──── background probe GET /v2/ → 200 or 401 ◀─┘ (lib/upstream/probe.ts)
//
// An unhealthy member is skipped while another is healthy; when none is,
// the chain tries them all in order rather than fail a pull untried.
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'

export interface BackoffOptions {
  /** ms an upstream is left alone after its first failure. */
  initial: number
  /** ms the doubling stops at. */
  max: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { initial: 1_000, max: 60_000 }

export class MemberHealth {
  healthy = true
  /** Failures in a row (requests and probes). */
  failures = 0
  /** No request or probe before this (ms epoch): the backoff, or a Retry-After. */
  retryAt = 0
  /** Why it last failed, for /help and the log. */
  lastError: string | undefined

  constructor(readonly url: string) {}

  available(): boolean {
    return this.healthy
  }

  dueForProbe(now = Date.now()): boolean {
    return !this.healthy && now >= this.retryAt
  }
}

export class HealthBoard {
  readonly #members = new Map<string, MemberHealth>()
  readonly #gauge: ReturnType<Metrics['gauge']> | undefined
  readonly #changes: ReturnType<Metrics['counter']> | undefined

  constructor(
    readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
    private readonly log?: Logger,
    metrics?: Metrics,
  ) {
    this.#gauge = metrics?.gauge('crproxy_upstream_healthy', 'Whether an upstream of a failover chain is in rotation (1) or backing off (0), by upstream URL')
    this.#changes = metrics?.counter('crproxy_upstream_health_changes_total', 'Upstreams taken out of rotation (to="unhealthy") and brought back (to="healthy"), by upstream URL')
  }

  of(url: string): MemberHealth {
    let h = this.#members.get(url)
    if (!h) {
      this.#members.set(url, (h = new MemberHealth(url)))
      this.#gauge?.set(1, { member: url })
    }
    return h
  }

  /** Members no map entry names any more are forgotten (a reload). */
  retain(urls: Iterable<string>): void {
    const keep = new Set(urls)
    for (const url of this.#members.keys()) if (!keep.has(url)) this.#members.delete(url)
  }

  all(): MemberHealth[] {
    return [...this.#members.values()]
  }

  /**
   * Out of rotation for the next backoff step, and not before
   * `notBeforeMs` from now (Retry-After, a spent rate limit).
   */
  markFailed(h: MemberHealth, reason: string, notBeforeMs = 0, now = Date.now()): void {
    h.failures++
    const step = Math.min(this.backoff.initial * 2 ** Math.min(h.failures - 1, 30), this.backoff.max)
    h.retryAt = now + Math.max(step, notBeforeMs)
    h.lastError = reason
    if (h.healthy) {
      h.healthy = false
      this.#gauge?.set(0, { member: h.url })
      this.#changes?.inc({ member: h.url, to: 'unhealthy' })
      this.log?.warn('upstream out of rotation', { upstream: h.url, reason, retry_in_ms: h.retryAt - now })
    }
  }

  markHealthy(h: MemberHealth, how: string): void {
    const was = h.healthy
    h.failures = 0
    h.retryAt = 0
    if (was) return
    h.healthy = true
    this.#gauge?.set(1, { member: h.url })
    this.#changes?.inc({ member: h.url, to: 'healthy' })
    this.log?.info('upstream back in rotation', { upstream: h.url, by: how, last_error: h.lastError })
  }
}
