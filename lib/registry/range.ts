// Single byte ranges as registry clients send them (protocol.md §13).
// containerd resumes with `bytes=N-`; multi-range requests are answered with
// the whole blob, which RFC 9110 §14.2 allows.
export interface ByteRange {
  /** inclusive */
  start: number
  /** inclusive */
  end: number
}

export type RangeResult = ByteRange | 'unsatisfiable' | null

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return null
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (!m) return null
  const [, a = '', b = ''] = m
  if (a === '' && b === '') return null
  if (a.length > 15 || b.length > 15) return 'unsatisfiable'
  if (a === '') {
    // Suffix range: the last N bytes.
    const n = Number(b)
    if (n === 0 || size === 0) return 'unsatisfiable'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  if (start >= size) return 'unsatisfiable'
  if (b === '') return { start, end: size - 1 }
  const end = Number(b)
  if (end < start) return 'unsatisfiable'
  return { start, end: Math.min(end, size - 1) }
}
