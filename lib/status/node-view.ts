// The node's figures, whichever process is asked: what /metrics, /status.json
// and the status page show. A single process is its own node; under
// --workers the primary gathers every worker's snapshot (cluster-snapshots.ts)
// and adds them up here, keeping what a worker that stopped had counted, so
// no counter goes backwards when a worker is replaced.
import type { FillProgress } from '../cache/types.js'
import { mergeSnapshots, retainable, total, type MetricsSnapshot } from '../metrics-snapshot.js'
import { History, type HistoryPoint } from './history.js'
import { mergeRepositories, type RepositoryBytes } from './top-repositories.js'
import { mergeHealth, type UpstreamHealthSnapshot } from './upstream-health.js'

/** One process's figures, as plain data (sent over IPC). */
export interface ProcessSnapshot {
  /** ms epoch the process started. */
  startedAt: number
  metrics: MetricsSnapshot
  upstreams: UpstreamHealthSnapshot
  repositories: RepositoryBytes
  fills: FillProgress[]
}

export interface NodeSnapshot extends ProcessSnapshot {
  /** Processes whose figures are in it now. */
  processes: number
  /** Per-minute samples of the cumulative counters, oldest first. */
  history: HistoryPoint[]
}

/** Where a handler gets the node's figures. */
export interface NodeSnapshots {
  snapshot(): Promise<NodeSnapshot>
  close(): void
}

/** Fills shown at most (the rest are in the metrics' count). */
const MAX_FILLS = 100

export function mergeProcesses(list: ProcessSnapshot[]): ProcessSnapshot {
  return {
    startedAt: Math.min(...list.map((s) => s.startedAt)),
    metrics: mergeSnapshots(list.map((s) => s.metrics)),
    upstreams: mergeHealth(list.map((s) => s.upstreams)),
    repositories: mergeRepositories(list.map((s) => s.repositories)),
    fills: list.flatMap((s) => s.fills).slice(0, MAX_FILLS),
  }
}

/** What outlives a stopped process: its counts and the facts it learnt, not its gauges or fills. */
export function retained(s: ProcessSnapshot): ProcessSnapshot {
  return { ...s, metrics: retainable(s.metrics), fills: [] }
}

export function historyPoint(metrics: MetricsSnapshot, t: number): HistoryPoint {
  return {
    t,
    hits: total(metrics, 'crproxy_cache_hits_total'),
    misses: total(metrics, 'crproxy_cache_misses_total'),
    bytesFromCache: total(metrics, 'crproxy_cache_bytes_served_total', { source: 'cache' }),
    bytesFromUpstream: total(metrics, 'crproxy_cache_bytes_served_total', { source: 'upstream' }),
  }
}

/**
 * Adds up the snapshots `collect` returns (one per live process) with those
 * of processes that stopped, and samples the result each minute for the
 * chart (also between requests, so the hour has no holes).
 */
export class NodeView implements NodeSnapshots {
  #retired: ProcessSnapshot | undefined
  readonly #history = new History()
  readonly #timer: NodeJS.Timeout

  constructor(
    private readonly collect: () => Promise<ProcessSnapshot[]>,
    sampleEvery = 15_000,
  ) {
    // The hour starts from nothing: what happened before the first request counts in its minute.
    this.#history.sample({ t: Date.now(), hits: 0, misses: 0, bytesFromCache: 0, bytesFromUpstream: 0 })
    this.#timer = setInterval(() => void this.snapshot().catch(() => {}), sampleEvery)
    this.#timer.unref()
  }

  /** A process stopped; `last` is the last snapshot it gave. */
  retire(last: ProcessSnapshot): void {
    const kept = retained(last)
    this.#retired = this.#retired ? mergeProcesses([this.#retired, kept]) : kept
  }

  async snapshot(): Promise<NodeSnapshot> {
    const live = await this.collect()
    const all = this.#retired ? [this.#retired, ...live] : live
    const merged = all.length ? mergeProcesses(all) : { startedAt: Date.now(), metrics: [], upstreams: {}, repositories: [], fills: [] }
    const now = Date.now()
    this.#history.sample(historyPoint(merged.metrics, now))
    return { ...merged, processes: live.length, history: this.#history.points(now) }
  }

  close(): void {
    clearInterval(this.#timer)
  }
}
