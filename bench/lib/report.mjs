// Medians, the printed table and the target checks.

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (!v.length) return NaN
  const m = v.length >> 1
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2
}

export function summary(xs) {
  const v = xs.filter((x) => Number.isFinite(x))
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length, samples: xs }
}

const MiB = 1024 * 1024

export function fmt(value, unit) {
  if (!Number.isFinite(value)) return 'n/a'
  switch (unit) {
    case 's':
      return value < 1 ? `${(value * 1000).toFixed(0)} ms` : `${value.toFixed(2)} s`
    case 'ms':
      return value < 10 ? `${value.toFixed(2)} ms` : `${value.toFixed(0)} ms`
    case 'MiB/s':
      return `${value.toFixed(0)} MiB/s`
    case 'MiB':
      return `${value.toFixed(1)} MiB`
    case 'req/s':
      return `${value.toFixed(0)} req/s`
    case 'x':
      return `${value.toFixed(2)}×`
    case 'CPU-s':
      return `${value.toFixed(2)} CPU-s`
    default:
      return `${value} ${unit}`
  }
}

export function mibps(bytes, seconds) {
  return bytes / MiB / seconds
}

/**
 * rows: { scenario, system, value, unit, extra?, ratios?: [{ label, value }] }
 * Prints a fixed-width table to stdout.
 */
export function printTable(rows) {
  const cells = rows.map((r) => [
    r.scenario,
    r.system,
    fmt(r.value, r.unit),
    r.extra ?? '',
    (r.ratios ?? []).map((x) => `${fmt(x.value, 'x')} ${x.label}`).join(', '),
  ])
  const head = ['scenario', 'system', 'median', 'also', 'ratio (crproxy ÷ other; >1 = crproxy better)']
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c) => c.map((s, i) => s.padEnd(widths[i])).join('  ').trimEnd()
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  ')]
  let last = ''
  for (const c of cells) {
    if (c[0] === last) c[0] = ''
    else last = c[0]
    out.push(line(c))
  }
  return out.join('\n')
}

/** Markdown version of the same table, for docs/benchmarks.md. */
export function markdownTable(rows) {
  const out = ['| scenario | system | median | also | ratio |', '|---|---|---|---|---|']
  for (const r of rows) {
    const ratios = (r.ratios ?? []).map((x) => `${fmt(x.value, 'x')} ${x.label}`).join(', ')
    out.push(`| ${r.scenario} | ${r.system} | ${fmt(r.value, r.unit)} | ${r.extra ?? ''} | ${ratios} |`)
  }
  return out.join('\n')
}

/** targets: { name, value, op: '>=' | '<=' | '<' | '==', threshold, unit } → with met. */
export function checkTargets(targets) {
  return targets.map((t) => {
    const met =
      Number.isFinite(t.value) &&
      (t.op === '>=' ? t.value >= t.threshold : t.op === '<=' ? t.value <= t.threshold : t.op === '==' ? t.value === t.threshold : t.value < t.threshold)
    return { ...t, met }
  })
}

export function printTargets(checked) {
  return checked
    .map((t) => `${t.met ? 'MET    ' : 'MISSED '} ${t.name}: ${fmt(t.value, t.unit)} (target ${t.op} ${fmt(t.threshold, t.unit)})`)
    .join('\n')
}

/** A small table: { title, head: [..], rows: [[..]] }, first column left-aligned, the others right. */
export function printGrid({ title, head, rows }) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const line = (c) => c.map((s, i) => (i === 0 ? String(s).padEnd(widths[i]) : String(s).padStart(widths[i]))).join('  ').trimEnd()
  return [title, line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

/** Markdown version of printGrid's table. */
export function markdownGrid({ head, rows }) {
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}
