// Counters and gauges rendered in Prometheus text format at GET /metrics.
// Kept dependency-free: a handful of numbers does not need a client library.
// Under --workers each process keeps its own; /metrics shows their sum
// (metrics-snapshot.ts, status/cluster-snapshots.ts).
import { labelText as key, renderSnapshot, type Labels, type MetricsSnapshot } from './metrics-snapshot.js'

interface Family {
  help: string
  type: 'counter' | 'gauge' | 'histogram'
  aggregate?: 'sum' | 'max'
  values: Map<string, number>
  collect?: () => number
  /** Histograms: upper bounds, and per label set the cumulative-ready counts. */
  buckets?: number[]
  series?: Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>
}

export interface GaugeOptions {
  /**
   * How the values of several worker processes combine: 'sum' (default) for
   * what each process has of its own (connections), 'max' for what every
   * process sees of shared state (the cache directory).
   */
  aggregate?: 'sum' | 'max'
}

/** Seconds: from a loopback round trip to a slow registry's first byte. */
export const latencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export class Metrics {
  private families = new Map<string, Family>()

  private family(name: string, help: string, type: Family['type']): Family {
    let f = this.families.get(name)
    if (!f) {
      f = { help, type, values: new Map() }
      this.families.set(name, f)
    }
    return f
  }

  counter(name: string, help: string) {
    const f = this.family(name, help, 'counter')
    return {
      inc: (labels: Labels = {}, by = 1) => {
        const k = key(labels)
        f.values.set(k, (f.values.get(k) ?? 0) + by)
      },
      get: (labels: Labels = {}) => f.values.get(key(labels)) ?? 0,
    }
  }

  gauge(name: string, help: string, opts: GaugeOptions = {}) {
    const f = this.family(name, help, 'gauge')
    if (opts.aggregate) f.aggregate = opts.aggregate
    return {
      set: (v: number, labels: Labels = {}) => void f.values.set(key(labels), v),
      inc: (labels: Labels = {}, by = 1) => {
        const k = key(labels)
        f.values.set(k, (f.values.get(k) ?? 0) + by)
      },
      dec: (labels: Labels = {}, by = 1) => {
        const k = key(labels)
        f.values.set(k, (f.values.get(k) ?? 0) - by)
      },
      get: (labels: Labels = {}) => f.values.get(key(labels)) ?? 0,
    }
  }

  /** Observations counted into buckets (`le` upper bounds, plus +Inf), with _sum and _count. */
  histogram(name: string, help: string, buckets: number[] = latencyBuckets) {
    const f = this.family(name, help, 'histogram')
    const bounds = (f.buckets ??= [...buckets].sort((a, b) => a - b))
    const series = (f.series ??= new Map())
    return {
      observe: (value: number, labels: Labels = {}) => {
        const k = key(labels)
        let s = series.get(k)
        if (!s) series.set(k, (s = { labels, counts: new Array<number>(bounds.length).fill(0), sum: 0, count: 0 }))
        const i = bounds.findIndex((b) => value <= b)
        if (i !== -1) s.counts[i] = (s.counts[i] ?? 0) + 1
        s.sum += value
        s.count++
      },
      count: (labels: Labels = {}) => series.get(key(labels))?.count ?? 0,
    }
  }

  /** A gauge whose value is read when /metrics is rendered. */
  collected(name: string, help: string, collect: () => number, opts: GaugeOptions = {}) {
    const f = this.family(name, help, 'gauge')
    f.collect = collect
    if (opts.aggregate) f.aggregate = opts.aggregate
  }

  /** This process's values as plain data (copies: safe to send or keep). */
  snapshot(): MetricsSnapshot {
    const out: MetricsSnapshot = []
    for (const [name, f] of this.families) {
      const base = { name, help: f.help, type: f.type, ...(f.aggregate ? { aggregate: f.aggregate } : {}) }
      if (f.series) {
        const series = [...f.series.values()].map((s) => ({ labels: { ...s.labels }, counts: [...s.counts], sum: s.sum, count: s.count }))
        out.push({ ...base, buckets: [...(f.buckets ?? [])], series })
      } else if (f.collect) out.push({ ...base, values: [['', f.collect()]] })
      else out.push({ ...base, values: [...f.values] })
    }
    return out
  }

  render(): string {
    return renderSnapshot(this.snapshot())
  }
}
