// Where a JSON document goes wrong, as an editor counts it: "line 3, column
// 7: expected ',' or '}'". V8's own messages give a character offset at best,
// and sometimes quote the input instead, which for a credentials file would
// put secrets in a log line; this scanner says only where and what it expected.

/** The first syntax error in `text` as "line L, column C: reason", or undefined if it is valid JSON. */
export function jsonSyntaxError(text: string): string | undefined {
  let i = 0
  const fail = (what: string): never => {
    throw new JsonAt(i, what)
  }
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++
  }
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length
    else fail('unexpected character')
  }
  const string = () => {
    i++ // opening quote
    for (;;) {
      if (i >= text.length) fail('unterminated string')
      const c = text.charCodeAt(i)
      if (c === 0x22) return void i++
      if (c < 0x20) fail('control character in string')
      if (c === 0x5c) {
        const e = text[i + 1]
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('bad \\u escape')
          i += 6
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2
        else fail('bad escape')
      } else i++
    }
  }
  const number = () => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i))
    if (!m) fail('bad number')
    i += m![0].length
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === undefined) fail('unexpected end of input')
    else if (c === '{') {
      i++
      ws()
      if (text[i] === '}') return void i++
      for (;;) {
        ws()
        if (text[i] !== '"') fail('expected a property name in double quotes')
        string()
        ws()
        if (text[i] !== ':') fail("expected ':'")
        i++
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === '}') return void i++
        else fail(i >= text.length ? 'unexpected end of input' : "expected ',' or '}'")
      }
    } else if (c === '[') {
      i++
      ws()
      if (text[i] === ']') return void i++
      for (;;) {
        value()
        ws()
        if (text[i] === ',') i++
        else if (text[i] === ']') return void i++
        else fail(i >= text.length ? 'unexpected end of input' : "expected ',' or ']'")
      }
    } else if (c === '"') string()
    else if (c === 't') literal('true')
    else if (c === 'f') literal('false')
    else if (c === 'n') literal('null')
    else if (c === '-' || (c >= '0' && c <= '9')) number()
    else fail('unexpected character')
  }
  try {
    if (text.charCodeAt(0) === 0xfeff) i++ // a BOM, as editors on Windows write
    value()
    ws()
    if (i < text.length) fail('unexpected content after the end')
    return undefined
  } catch (err) {
    if (!(err instanceof JsonAt)) throw err
    return `${lineColumn(text, err.offset)}: ${err.message}`
  }
}

class JsonAt extends Error {
  constructor(
    readonly offset: number,
    message: string,
  ) {
    super(message)
  }
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  const column = offset - (before.lastIndexOf('\n') + 1) + 1
  return `line ${line}, column ${column}`
}
