// /status.json: the node's snapshot (node-view.ts) turned into the figures
// the page shows. Built from the same snapshot /metrics renders, so the two
// agree; and only from enumerated fields (counts, times, host names, map
// URLs, repository names), so no credential or token can reach it.
import { total, type FamilySnapshot } from '../metrics-snapshot.js'
import type { HistoryPoint } from './history.js'
import { historyPoint, type NodeSnapshot } from './node-view.js'

export interface StatusData {
  version: string
  /** ms epoch of this answer (the page shows times relative to it). */
  now: number
  startedAt: number
  uptimeSeconds: number
  processes: number
  upstreams: UpstreamStatus[]
  cache: CacheStatus | null
  /** Per minute of the last hour, oldest first: what happened in that minute. */
  history: HistoryPoint[]
  fills: NodeSnapshot['fills']
  repositories: Array<{ name: string; bytes: number }>
}

export interface UpstreamStatus {
  host: string
  requests: number
  errors: number
  lastSuccess?: number
  lastError?: { at: number; what: string }
  p50Seconds?: number
  p99Seconds?: number
  rateLimit?: NonNullable<NodeSnapshot['upstreams'][string]['rateLimit']>
}

export interface CacheStatus {
  /** Blobs and manifests on disk. */
  bytes: number
  /** --cache-max-size; 0 = unbounded. */
  maxBytes: number
  blobs: number
  hits: number
  misses: number
  hitRatio: number | null
  bytesFromCache: number
  bytesFromUpstream: number
  fillsInFlight: number
}

/** Rows of the most-pulled table. */
const TOP = 10

const LATENCY = 'crproxy_upstream_request_duration_seconds'

export function statusData(s: NodeSnapshot, opts: { version: string; cacheMaxSize: number; now?: number }): StatusData {
  const now = opts.now ?? Date.now()
  const m = s.metrics
  const cached = m.some((f) => f.name === 'crproxy_cache_hits_total')
  const hits = total(m, 'crproxy_cache_hits_total')
  const misses = total(m, 'crproxy_cache_misses_total')
  return {
    version: opts.version,
    now,
    startedAt: s.startedAt,
    uptimeSeconds: Math.max(0, Math.round((now - s.startedAt) / 1000)),
    processes: s.processes,
    upstreams: upstreams(s),
    cache: cached
      ? {
          bytes: total(m, 'crproxy_cache_bytes') + total(m, 'crproxy_cache_manifest_bytes'),
          maxBytes: opts.cacheMaxSize,
          blobs: total(m, 'crproxy_cache_blobs'),
          hits,
          misses,
          hitRatio: hits + misses ? hits / (hits + misses) : null,
          bytesFromCache: total(m, 'crproxy_cache_bytes_served_total', { source: 'cache' }),
          bytesFromUpstream: total(m, 'crproxy_cache_bytes_served_total', { source: 'upstream' }),
          fillsInFlight: total(m, 'crproxy_cache_inflight_fills'),
        }
      : null,
    history: perMinute([...s.history, historyPoint(m, now)]),
    fills: s.fills,
    repositories: s.repositories.slice(0, TOP).map(([name, bytes]) => ({ name, bytes })),
  }
}

/** Cumulative samples to what each minute added (a counter reset counts from zero). */
function perMinute(points: HistoryPoint[]): HistoryPoint[] {
  const out: HistoryPoint[] = []
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1]!
    const b = points[i]!
    const d = (k: keyof HistoryPoint) => (b[k] >= a[k] ? b[k] - a[k] : b[k])
    out.push({ t: b.t, hits: d('hits'), misses: d('misses'), bytesFromCache: d('bytesFromCache'), bytesFromUpstream: d('bytesFromUpstream') })
  }
  return out
}

function upstreams(s: NodeSnapshot): UpstreamStatus[] {
  const latency = s.metrics.find((f) => f.name === LATENCY)
  const hosts = new Set([...Object.keys(s.upstreams), ...(latency?.series ?? []).map((x) => x.labels['host'] ?? '')])
  hosts.delete('')
  return [...hosts].sort().map((host) => {
    const h = s.upstreams[host] ?? {}
    const { counts, count } = hostLatency(latency, host)
    const bounds = latency?.buckets ?? []
    const serverErrors = (latency?.series ?? []).filter((x) => x.labels['host'] === host && x.labels['status'] === '5xx').reduce((n, x) => n + x.count, 0)
    return {
      host,
      requests: count,
      errors: total(s.metrics, 'crproxy_upstream_failures_total', { host }) + serverErrors,
      ...(h.lastSuccess !== undefined ? { lastSuccess: h.lastSuccess } : {}),
      ...(h.lastError ? { lastError: h.lastError } : {}),
      ...(count ? { p50Seconds: quantile(0.5, bounds, counts, count), p99Seconds: quantile(0.99, bounds, counts, count) } : {}),
      ...(h.rateLimit ? { rateLimit: h.rateLimit } : {}),
    }
  })
}

function hostLatency(f: FamilySnapshot | undefined, host: string): { counts: number[]; count: number } {
  const counts: number[] = []
  let count = 0
  for (const x of f?.series ?? []) {
    if (x.labels['host'] !== host) continue
    x.counts.forEach((c, i) => (counts[i] = (counts[i] ?? 0) + c))
    count += x.count
  }
  return { counts, count }
}

/**
 * As Prometheus's histogram_quantile: linear within the bucket the rank
 * falls in; beyond the last bound, that bound.
 */
export function quantile(q: number, bounds: number[], counts: number[], count: number): number {
  const rank = q * count
  let below = 0
  for (let i = 0; i < bounds.length; i++) {
    const c = counts[i] ?? 0
    if (below + c >= rank && c > 0) {
      const lower = i === 0 ? 0 : bounds[i - 1]!
      return lower + (bounds[i]! - lower) * ((rank - below) / c)
    }
    below += c
  }
  return bounds[bounds.length - 1] ?? 0
}

