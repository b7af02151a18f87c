// Single byte ranges as registry clients send them (protocol.md §13).
// containerd resumes with `bytes=N-`; lazy pullers (stargz, SOCI,
// zstd:chunked) read a blob's footer first, with `bytes=-N` or a closed range
// near the end. Multi-range requests are answered with the whole blob, which
// RFC 9110 §14.2 allows.
export interface ByteRange {
  /** inclusive */
  start: number
  /** inclusive */
  end: number
}

/**
 * A range as asked, before the blob's length is known: from `start` (to
 * `end`, or to the last byte), or the last `suffix` bytes.
 */
export type RangeSpec = { start: number; end?: number } | { suffix: number }

export type RangeResult = ByteRange | 'unsatisfiable' | null

/** One well-formed range; 'unsatisfiable' whatever the length; null: not one range (ignored). */
export function parseRangeSpec(header: string | undefined): RangeSpec | 'unsatisfiable' | null {
  if (header === undefined) return null
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header)
  if (!m) return null
  const [, a = '', b = ''] = m
  if (a === '' && b === '') return null
  if (a.length > 15 || b.length > 15) return 'unsatisfiable'
  if (a === '') return b === '' || Number(b) === 0 ? 'unsatisfiable' : { suffix: Number(b) }
  if (b === '') return { start: Number(a) }
  if (Number(b) < Number(a)) return 'unsatisfiable'
  return { start: Number(a), end: Number(b) }
}

/** The bytes a spec names in a blob of `size` bytes (RFC 9110 §14.1.2). */
export function resolveRange(spec: RangeSpec, size: number): ByteRange | 'unsatisfiable' {
  if ('suffix' in spec) return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - spec.suffix), end: size - 1 }
  if (spec.start >= size) return 'unsatisfiable'
  return { start: spec.start, end: spec.end === undefined ? size - 1 : Math.min(spec.end, size - 1) }
}

/** The Range header for a spec, written plainly (whatever spacing or case the client used). */
export function formatRange(spec: RangeSpec): string {
  if ('suffix' in spec) return `bytes=-${spec.suffix}`
  return `bytes=${spec.start}-${spec.end ?? ''}`
}

export function parseRange(header: string | undefined, size: number): RangeResult {
  const spec = parseRangeSpec(header)
  return spec === null || spec === 'unsatisfiable' ? spec : resolveRange(spec, size)
}

/** `Content-Range: bytes <start>-<end>/<size>` of a 206, or null. */
export function parseContentRange(header: string | undefined): (ByteRange & { size: number }) | null {
  const m = /^bytes (\d{1,15})-(\d{1,15})\/(\d{1,15})$/.exec(header?.trim() ?? '')
  if (!m) return null
  const [start, end, size] = [Number(m[1]), Number(m[2]), Number(m[3])]
  return start <= end && end < size ? { start, end, size } : null
}
