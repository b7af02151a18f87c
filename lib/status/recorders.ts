// What one process records for the status page beyond its metrics, and the
// snapshot of all of it that the node's view adds up.
import type { BlobCache } from '../cache/blob-cache.js'
import type { Metrics } from '../metrics.js'
import type { ProcessSnapshot } from './node-view.js'
import { TopRepositories } from './top-repositories.js'
import { UpstreamHealth } from './upstream-health.js'

export interface StatusRecorders {
  /** False with --no-status: / and /status.json answer 404 as any unknown path. */
  page: boolean
  /** --cache-max-size in bytes (0 = unbounded), the bound the page shows the cache against. */
  cacheMaxSize: number
  startedAt: number
  health: UpstreamHealth
  repositories: TopRepositories
}

export function statusRecorders(opts: { page: boolean; cacheMaxSize: number }): StatusRecorders {
  return { ...opts, startedAt: Date.now(), health: new UpstreamHealth(), repositories: new TopRepositories() }
}

export function processSnapshot(r: StatusRecorders, metrics: Metrics, cache: BlobCache | undefined): ProcessSnapshot {
  return {
    startedAt: r.startedAt,
    metrics: metrics.snapshot(),
    upstreams: r.health.snapshot(),
    repositories: r.repositories.snapshot(),
    fills: cache?.fills() ?? [],
  }
}
