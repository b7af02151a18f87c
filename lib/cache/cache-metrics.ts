// The cache's counters: kept locally for stats() and mirrored to the
// Prometheus registry. A lookup hit is a hit; a claim is a miss.
import type { Metrics } from '../metrics.js'
import type { BlobCacheStats } from './types.js'

export type ServedFrom = 'cache' | 'upstream'

type Counts = Pick<BlobCacheStats, 'hits' | 'misses' | 'bytesFromCache' | 'bytesFromUpstream' | 'evictions'>

export interface Gauges {
  bytes: () => number
  chargedBytes: () => number
  blobs: () => number
  inflightFills: () => number
  fillBufferBytes: () => number
  /** --cache-max-size (0 = unbounded). */
  maxBytes: () => number
}

export class CacheMetrics {
  readonly counts: Counts = { hits: 0, misses: 0, bytesFromCache: 0, bytesFromUpstream: 0, evictions: 0 }
  readonly #hits
  readonly #misses
  readonly #served
  readonly #evictions
  readonly #verifySkipped
  readonly #clientGone
  readonly #uncached
  readonly #background

  constructor(m: Metrics, gauges: Gauges) {
    this.#hits = m.counter('crproxy_cache_hits_total', 'Blob requests answered from the cache')
    this.#misses = m.counter('crproxy_cache_misses_total', 'Blob requests that claimed a fill (cache misses)')
    this.#served = m.counter('crproxy_cache_bytes_served_total', 'Blob bytes sent to clients through the cache, by source')
    this.#evictions = m.counter(
      'crproxy_cache_evictions_total',
      'Blob files the cache deleted (LRU capacity or failed verification)',
    )
    this.#verifySkipped = m.counter(
      'crproxy_cache_verify_skipped_total',
      'Cached blobs served without hashing again: verified whole by this process and unchanged on disk since',
    )
    this.#clientGone = m.counter(
      'crproxy_cache_fills_client_gone_total',
      "Fills whose client left before the end: kept (followed, or half in) or dropped",
    )
    this.#background = m.counter(
      'crproxy_cache_background_fills_total',
      'Whole-blob fills for a Range passed through to the upstream (lazy pulling), by outcome: committed or failed',
    )
    this.#uncached = m.counter('crproxy_cache_uncached_total', 'Blob requests served from the upstream without caching, by reason (e.g. larger than --cache-max-size)')
    // The directory is shared by the workers: each sees (about) the same, so the node's figure is the largest, not the sum.
    const shared = { aggregate: 'max' } as const
    m.collected('crproxy_cache_bytes', 'Bytes of committed blobs in the cache index', gauges.bytes, shared)
    m.collected(
      'crproxy_cache_manifest_bytes',
      'Bytes of manifests and tag records on disk, bounded by --cache-max-size together with the blobs',
      gauges.chargedBytes,
      shared,
    )
    m.collected('crproxy_cache_blobs', 'Committed blobs in the cache index', gauges.blobs, shared)
    m.collected('crproxy_cache_max_bytes', 'The bound on blobs and manifests together (--cache-max-size); 0 = unbounded', gauges.maxBytes, shared)
    m.collected('crproxy_cache_inflight_fills', 'Fills of this process in progress', gauges.inflightFills)
    m.collected('crproxy_cache_fill_buffer_bytes', 'Bytes of read buffers held by fills of this process (reused; bounded per fill)', gauges.fillBufferBytes)
  }

  hit(): void {
    this.counts.hits++
    this.#hits.inc()
  }

  miss(): void {
    this.counts.misses++
    this.#misses.inc()
  }

  served(source: ServedFrom, n: number): void {
    if (source === 'cache') this.counts.bytesFromCache += n
    else this.counts.bytesFromUpstream += n
    this.#served.inc({ source }, n)
  }

  uncached(reason: string): void {
    this.#uncached.inc({ reason })
  }

  clientGone(kept: boolean): void {
    this.#clientGone.inc({ outcome: kept ? 'kept' : 'dropped' })
  }

  background(committed: boolean): void {
    this.#background.inc({ outcome: committed ? 'committed' : 'failed' })
  }

  verifySkipped(): void {
    this.#verifySkipped.inc()
  }

  evicted(): void {
    this.counts.evictions++
    this.#evictions.inc()
  }
}
