// Checks a response's header block before anything is made of it. Its
// framing must be unambiguous (RFC 9112 §6.3) and every field one that
// Node's http server could write back to a client (RFC 9110 §5.1, §5.5):
// the responses Node's own client (llhttp) refuses, refused here too, since
// http-parser-js is more lenient than either.

// RFC 9110 §5.1 token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// What node:http's validateHeaderValue lets through: HTAB, SP, visible
// ASCII and obs-text. Anything else (CR, LF, NUL, other controls, DEL)
// would make writeHead throw halfway through a client's response.
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/
// One decimal number of bytes: no sign, no list, no exponent (RFC 9110 §8.6).
const DIGITS = /^\d+$/

/** raw is [name, value, name, value, …] as the parser gives it. Returns what is wrong, or null. */
export function headerBlockProblem(raw: readonly string[]): string | null {
  let lengths = 0
  let codings = 0
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    if (!TOKEN.test(name)) return `invalid header name ${JSON.stringify(name.slice(0, 64))}`
    if (BAD_VALUE.test(value)) return `control character in header ${name}`
    switch (name.toLowerCase()) {
      case 'content-length':
        // Two lengths, even equal ones, are refused as llhttp does: a message
        // that says its length twice was not built by anything we should trust.
        if (++lengths > 1) return 'more than one Content-Length'
        if (!DIGITS.test(value) || !Number.isSafeInteger(Number(value))) {
          return `invalid Content-Length ${JSON.stringify(value.slice(0, 32))}`
        }
        break
      case 'transfer-encoding':
        // Only chunked is decoded; any other coding would reach the client
        // (and the digest check) still encoded.
        if (++codings > 1) return 'more than one Transfer-Encoding'
        if (value.toLowerCase() !== 'chunked') return `unsupported Transfer-Encoding ${JSON.stringify(value.slice(0, 32))}`
        break
    }
  }
  // Either could delimit the body: one reader would split the stream where
  // another does not (RFC 9112 §6.3 rule 3, §11.2 request smuggling).
  if (lengths > 0 && codings > 0) return 'both Transfer-Encoding and Content-Length'
  return null
}
