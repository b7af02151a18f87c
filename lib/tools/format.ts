// How the tools print figures for people: sizes in binary units, ages, rates,
// and columns padded to line up. Machine output (--json) keeps raw numbers.

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** 1536 → '1.5 KiB'; whole bytes below 1 KiB. */
/** `1 blob`, `3 blobs`: a count and its noun. */
export function counted(n: number, singular: string, plural = singular + 's'): string {
  return `${n} ${n === 1 ? singular : plural}`
}

export function formatSize(bytes: number): string {
  let n = bytes
  let u = 0
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024
    u++
  }
  return u === 0 ? `${n} B` : `${n.toFixed(1)} ${units[u]}`
}

/** ms → '45s', '12m', '3h', '9d'. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86400)}d`
}

/** ms epoch → '2024-05-01 12:34' (UTC). */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16).replace('T', ' ')
}

export function formatRate(bytes: number, ms: number): string {
  return `${formatSize(ms > 0 ? Math.round((bytes * 1000) / ms) : 0)}/s`
}

/**
 * Rows as aligned columns, two spaces apart; `right` names the columns
 * (by index) aligned right, numbers usually. The last column is not padded.
 */
export function table(rows: string[][], right: ReadonlySet<number> = new Set()): string {
  const widths: number[] = []
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)))
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 && !right.has(i) ? c : right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .map((l) => l + '\n')
    .join('')
}
