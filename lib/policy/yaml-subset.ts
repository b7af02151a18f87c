// The YAML a policy file needs, and no more: a mapping of scalars, one of
// whose values is a block list of mappings of scalars.
//
//   default: deny            # comments anywhere
//   rules:
//     - name: no-latest
//       action: deny
//       repository: docker/**
//       tag: latest
//     - { … }                # flow collections are not read: use JSON
//
// Scalars are plain, "double-quoted" (JSON escapes) or 'single-quoted'. A
// plain scalar may not start with `*`, `&`, `!`, `{`, `[`, `|`, `>`, `@`,
// '`', `%` (YAML gives those other meanings): quote it. What a full YAML
// parser would read differently is refused, with its line, rather than
// guessed: a parser returns a value or null, and the caller says where.

export type Doc = Record<string, string | Array<Record<string, string>>>

export interface YamlError {
  line: number
  reason: string
}

const keyRe = /^([A-Za-z_][A-Za-z0-9_-]*):(?:\s+(.*))?$/

function scalar(raw: string): string | null {
  const s = raw.trim()
  if (s.startsWith('"')) {
    try {
      const v: unknown = JSON.parse(s)
      return typeof v === 'string' ? v : null
    } catch {
      return null
    }
  }
  if (s.startsWith("'")) {
    const m = /^'((?:[^']|'')*)'$/.exec(s)
    return m ? m[1]!.replace(/''/g, "'") : null
  }
  if (s === '' || /^[*&!{}[\]|>@`%#,]/.test(s) || /:\s|\s#/.test(s)) return null
  return s
}

/** Drops a comment (outside quotes) and trailing blanks. */
function uncomment(line: string): string {
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    if (quote) {
      if (c === quote) quote = undefined
    } else if (c === '"' || c === "'") quote = c
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd()
  }
  return line.trimEnd()
}

export function parseYamlSubset(text: string): Doc | YamlError {
  const doc: Doc = {}
  let list: Array<Record<string, string>> | undefined
  let item: Record<string, string> | undefined
  let itemIndent = -1
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  for (let n = 0; n < lines.length; n++) {
    const line = uncomment(lines[n]!)
    if (line.trim() === '' || line === '---') continue
    if (/\t/.test(line.slice(0, line.length - line.trimStart().length))) return { line: n + 1, reason: 'tabs in indentation' }
    const indent = line.length - line.trimStart().length
    let body = line.trim()
    if (indent === 0) {
      const m = keyRe.exec(body)
      if (!m) return { line: n + 1, reason: 'expected "key: value"' }
      if (m[1]! in doc) return { line: n + 1, reason: `${m[1]} given twice` }
      item = undefined
      if (m[2] === undefined) {
        doc[m[1]!] = list = []
        continue
      }
      list = undefined
      const v = scalar(m[2])
      if (v === null) return { line: n + 1, reason: 'unsupported value (quote it, or write the file as JSON)' }
      doc[m[1]!] = v
      continue
    }
    if (!list) return { line: n + 1, reason: 'unexpected indentation' }
    if (body.startsWith('- ') || body === '-') {
      item = {}
      list.push(item)
      itemIndent = indent + 2
      body = body.slice(1).trim()
      if (body === '') continue
    } else if (!item || indent !== itemIndent) {
      return { line: n + 1, reason: 'expected "- key: value" or a key aligned with the one above' }
    }
    const m = keyRe.exec(body)
    if (!m || m[2] === undefined) return { line: n + 1, reason: 'expected "key: value"' }
    const v = scalar(m[2])
    if (v === null) return { line: n + 1, reason: 'unsupported value (quote it, or write the file as JSON)' }
    if (m[1]! in item!) return { line: n + 1, reason: `${m[1]} given twice` }
    item![m[1]!] = v
  }
  return doc
}
