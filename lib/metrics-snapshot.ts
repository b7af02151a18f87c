// A process's metrics as plain data: what a worker hands the primary over
// IPC, what the primary adds up into one node-wide view, and what /metrics
// renders. Generic over families, so a metric added anywhere is aggregated
// without being named here.
//
//   counters    summed per label set
//   gauges      summed (open connections, fills of each process) or, for a
//               gauge that describes state every process sees the same (the
//               shared cache directory), the largest value
//   histograms  bucket counts, _sum and _count summed per label set

export type Labels = Record<string, string>

export interface SeriesSnapshot {
  labels: Labels
  /** Per bucket, not cumulative. */
  counts: number[]
  sum: number
  count: number
}

export interface FamilySnapshot {
  name: string
  help: string
  type: 'counter' | 'gauge' | 'histogram'
  /** Gauges: how the values of several processes combine (default 'sum'). */
  aggregate?: 'sum' | 'max'
  /** Counters and gauges: [label text as rendered, value]. */
  values?: Array<[string, number]>
  /** Histograms: upper bounds. */
  buckets?: number[]
  series?: SeriesSnapshot[]
}

export type MetricsSnapshot = FamilySnapshot[]

/** `{a="1",b="2"}` (sorted, escaped) or '' — the text a sample's labels render as. */
export function labelText(labels: Labels): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
  return parts.length ? `{${parts.join(',')}}` : ''
}

/** Adds several processes' snapshots into one; families keep the order they first appear in. */
export function mergeSnapshots(snapshots: MetricsSnapshot[]): MetricsSnapshot {
  const out = new Map<string, { f: FamilySnapshot; values: Map<string, number>; series: Map<string, SeriesSnapshot> }>()
  for (const snap of snapshots) {
    for (const f of snap) {
      let acc = out.get(f.name)
      if (!acc) {
        acc = { f: { ...f, values: undefined, series: undefined }, values: new Map(), series: new Map() }
        out.set(f.name, acc)
      }
      // A family another build typed differently (a rolling upgrade) is not mixed in.
      if (acc.f.type !== f.type) continue
      const max = f.type === 'gauge' && (acc.f.aggregate ?? f.aggregate) === 'max'
      for (const [k, v] of f.values ?? []) {
        const was = acc.values.get(k)
        acc.values.set(k, was === undefined ? v : max ? Math.max(was, v) : was + v)
      }
      if (f.type === 'histogram') mergeSeries(acc.f, acc.series, f)
    }
  }
  return [...out.values()].map(({ f, values, series }) =>
    f.type === 'histogram' ? { ...f, series: [...series.values()] } : { ...f, values: [...values] },
  )
}

function mergeSeries(into: FamilySnapshot, acc: Map<string, SeriesSnapshot>, f: FamilySnapshot): void {
  const bounds = (into.buckets ??= f.buckets ?? [])
  const same = f.buckets?.length === bounds.length && f.buckets.every((b, i) => b === bounds[i])
  if (!same) return
  for (const s of f.series ?? []) {
    const k = labelText(s.labels)
    const a = acc.get(k)
    if (!a) {
      acc.set(k, { labels: s.labels, counts: [...s.counts], sum: s.sum, count: s.count })
      continue
    }
    s.counts.forEach((c, i) => (a.counts[i] = (a.counts[i] ?? 0) + c))
    a.sum += s.sum
    a.count += s.count
  }
}

/** What outlives a process that stopped: its counters and histograms (gauges describe it, and it is gone). */
export function retainable(snapshot: MetricsSnapshot): MetricsSnapshot {
  return snapshot.filter((f) => f.type !== 'gauge')
}

/** Prometheus text format (0.0.4). */
export function renderSnapshot(snapshot: MetricsSnapshot): string {
  let out = ''
  for (const f of snapshot) {
    out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`
    if (f.type === 'histogram') out += renderHistogram(f.name, f.buckets ?? [], f.series ?? [])
    else if (!f.values?.length) out += `${f.name} 0\n`
    else for (const [k, v] of f.values) out += `${f.name}${k} ${v}\n`
  }
  return out
}

function renderHistogram(name: string, bounds: number[], series: SeriesSnapshot[]): string {
  let out = ''
  for (const s of series) {
    let cumulative = 0
    bounds.forEach((b, i) => {
      cumulative += s.counts[i] ?? 0
      out += `${name}_bucket${labelText({ ...s.labels, le: String(b) })} ${cumulative}\n`
    })
    out += `${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}\n`
    out += `${name}_sum${labelText(s.labels)} ${s.sum}\n`
    out += `${name}_count${labelText(s.labels)} ${s.count}\n`
  }
  return out
}

/** Sum of a counter's or gauge's samples whose labels include `match` (all of them without). */
export function total(snapshot: MetricsSnapshot, name: string, match: Labels = {}): number {
  const f = snapshot.find((x) => x.name === name)
  if (!f?.values) return 0
  const wanted = Object.entries(match).map(([k, v]) => labelText({ [k]: v }).slice(1, -1))
  let sum = 0
  for (const [k, v] of f.values) if (wanted.every((w) => hasLabel(k, w))) sum += v
  return sum
}

function hasLabel(text: string, pair: string): boolean {
  for (const before of ['{', ',']) for (const after of [',', '}']) if (text.includes(before + pair + after)) return true
  return false
}
