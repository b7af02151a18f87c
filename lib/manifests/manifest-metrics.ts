// The manifest figures at /metrics. One set per Metrics registry, created on
// first use (the handler counts upstream requests even without a cache).
import type { Metrics } from '../metrics.js'

export type Reference = 'digest' | 'tag'
/** hit: the HEAD named a cached manifest; miss: it did not; no_digest/refused/failed: a GET followed or the error was handled. */
export type Revalidation = 'hit' | 'miss' | 'no_digest' | 'refused' | 'failed'

export interface ManifestMetrics {
  hit(ref: Reference): void
  miss(ref: Reference): void
  revalidation(result: Revalidation): void
  upstream(method: 'HEAD' | 'GET'): void
  stale(): void
  stored(): void
  corrupt(): void
}

const bound = new WeakMap<Metrics, ManifestMetrics>()

export function manifestMetrics(m: Metrics): ManifestMetrics {
  let mm = bound.get(m)
  if (mm) return mm
  const hits = m.counter('crproxy_manifest_cache_hits_total', 'Manifest requests answered from the cache, by reference kind')
  const misses = m.counter('crproxy_manifest_cache_misses_total', 'Manifest requests the cache could not answer, by reference kind')
  const revalidations = m.counter(
    'crproxy_manifest_revalidations_total',
    'GETs by tag checked with an upstream HEAD, by result (hit = served from the cache)',
  )
  const upstream = m.counter('crproxy_manifest_upstream_requests_total', 'Manifest requests sent upstream, by method')
  const stale = m.counter('crproxy_manifest_stale_served_total', 'Manifests by tag served stale because the upstream failed')
  const stored = m.counter('crproxy_manifest_cache_stored_total', 'Manifests verified and stored in the cache')
  const corrupt = m.counter('crproxy_manifest_cache_corrupt_total', 'Cached manifests that failed verification on read (deleted)')
  mm = {
    hit: (reference) => hits.inc({ reference }),
    miss: (reference) => misses.inc({ reference }),
    revalidation: (result) => revalidations.inc({ result }),
    upstream: (method) => upstream.inc({ method }),
    stale: () => stale.inc(),
    stored: () => stored.inc(),
    corrupt: () => corrupt.inc(),
  }
  bound.set(m, mm)
  return mm
}
