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
  type: 'counter' | 'gauge'
  values: Map<string, number>
  collect?: () => number
}

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

  /** A gauge whose value is read when /metrics is rendered. */
  collected(name: string, help: string, collect: () => number) {
    const f = this.family(name, help, 'gauge')
    f.collect = collect
  }

  render(): string {
    let out = ''
    for (const [name, f] of this.families) {
      out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n`
      if (f.collect) out += `${name} ${f.collect()}\n`
      else if (f.values.size === 0) out += `${name} 0\n`
      else for (const [k, v] of f.values) out += `${name}${k} ${v}\n`
    }
    return out
  }
}
