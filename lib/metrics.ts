// Counters and gauges rendered in Prometheus text format at GET /metrics.
// Kept dependency-free: a handful of numbers does not need a client library.

type Labels = Record<string, string>

function key(labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

interface Family {
  help: string
  type: 'counter' | 'gauge' | 'histogram'
  values: Map<string, number>
  collect?: () => number
  /** Histograms: upper bounds, and per label set the cumulative-ready counts. */
  buckets?: number[]
  series?: Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>
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

  gauge(name: string, help: string) {
    const f = this.family(name, help, 'gauge')
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
  collected(name: string, help: string, collect: () => number) {
    const f = this.family(name, help, 'gauge')
    f.collect = collect
  }

  render(): string {
    let out = ''
    for (const [name, f] of this.families) {
      out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n`
      if (f.series) out += renderHistogram(name, f.buckets ?? [], f.series)
      else if (f.collect) out += `${name} ${f.collect()}\n`
      else if (f.values.size === 0) out += `${name} 0\n`
      else for (const [k, v] of f.values) out += `${name}${k} ${v}\n`
    }
    return out
  }
}

function renderHistogram(name: string, bounds: number[], series: NonNullable<Family['series']>): string {
  let out = ''
  for (const s of series.values()) {
    let cumulative = 0
    bounds.forEach((b, i) => {
      cumulative += s.counts[i] ?? 0
      out += `${name}_bucket${key({ ...s.labels, le: String(b) })} ${cumulative}\n`
    })
    out += `${name}_bucket${key({ ...s.labels, le: '+Inf' })} ${s.count}\n`
    out += `${name}_sum${key(s.labels)} ${s.sum}\n`
    out += `${name}_count${key(s.labels)} ${s.count}\n`
  }
  return out
}
