// Upstream latency for /metrics: a Transport wrapper that times each
// exchange from request to response headers (what a client waits before the
// first byte), per upstream host, and counts failures before any response.
// Every hop of a redirect is its own observation (registry, then CDN).
import type { IncomingHttpHeaders } from 'node:http'
import type { Metrics } from '../metrics.js'
import { UpstreamError } from '../errors.js'
import type { Transport, UpstreamRequest, UpstreamResponse } from './types.js'

/**
 * Distinct host labels kept; later hosts are counted as `other`. Upstreams
 * and their CDNs are a handful; an upstream redirecting to a new host name
 * on every request must not grow /metrics (and memory) without end.
 */
export const MAX_HOST_LABELS = 64

/** Told of every exchange by host label (the status page's per-host health, lib/status/upstream-health.ts). */
export interface ExchangeObserver {
  answered(host: string, status: number, headers: IncomingHttpHeaders): void
  failed(host: string, kind: string): void
}

export class TimedTransport implements Transport {
  private readonly duration: ReturnType<Metrics['histogram']>
  private readonly failures: ReturnType<Metrics['counter']>
  private readonly hosts = new Set<string>()

  constructor(
    readonly inner: Transport,
    metrics: Metrics,
    /** Last success, last error and rate limit per host, for the status page. */
    private readonly health?: ExchangeObserver,
  ) {
    this.duration = metrics.histogram(
      'crproxy_upstream_request_duration_seconds',
      'Time from upstream request to response headers, by upstream host and status class',
    )
    this.failures = metrics.counter('crproxy_upstream_failures_total', 'Upstream requests that failed before a response, by host and kind')
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const started = process.hrtime.bigint()
    const host = this.hostLabel(req.url.host)
    try {
      const res = await this.inner.request(req)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      this.duration.observe(seconds, { host, status: `${Math.floor(res.status / 100)}xx` })
      this.health?.answered(host, res.status, res.headers as IncomingHttpHeaders)
      return res
    } catch (err) {
      if (!req.signal?.aborted) {
        const kind = err instanceof UpstreamError ? err.kind : 'error'
        this.failures.inc({ host, kind })
        this.health?.failed(host, kind)
      }
      throw err
    }
  }

  setUpstreams(urls: string[]): void {
    this.inner.setUpstreams(urls)
  }

  private hostLabel(host: string): string {
    if (this.hosts.has(host)) return host
    if (this.hosts.size >= MAX_HOST_LABELS) return 'other'
    this.hosts.add(host)
    return host
  }

  close(): void {
    this.inner.close()
  }
}
