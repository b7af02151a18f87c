// WWW-Authenticate parsing and serialisation (RFC 9110 §11.6.1).
// A header may carry several challenges, each with parameters in any order;
// quoted values may contain commas and escaped quotes. Parsing keeps the
// parameters in order so that a rewrite changes nothing but the realm.

export interface Challenge {
  scheme: string
  /** token68 form (e.g. `Negotiate abc==`), when present instead of params. */
  token68?: string
  params: Array<[string, string]>
}

/** Bounds work on hostile headers: a challenge header is a few hundred bytes. */
const MAX_PARAMS = 64

const tokenChar = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/

export function parseChallenges(header: string): Challenge[] | null {
  const out: Challenge[] = []
  let i = 0
  const n = header.length
  const skipWs = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++
  }
  const readToken = () => {
    const start = i
    while (i < n && tokenChar.test(header[i] as string)) i++
    return header.slice(start, i)
  }
  let params = 0
  while (i < n) {
    skipWs()
    if (header[i] === ',') {
      i++
      continue
    }
    if (i >= n) break
    const scheme = readToken()
    if (!scheme) return null
    const ch: Challenge = { scheme, params: [] }
    out.push(ch)
    skipWs()
    // Parameters until the next challenge: a token not followed by '='.
    for (;;) {
      skipWs()
      if (i >= n) break
      const save = i
      const name = readToken()
      skipWs()
      if (!name || header[i] !== '=') {
        if (name && ch.params.length === 0 && ch.token68 === undefined && header[i] !== ',') {
          return null
        }
        // token68 (`Basic abc==`): letters then '=' padding; handled above by
        // '=' check, so a bare token here starts the next challenge.
        i = save
        break
      }
      i++ // '='
      skipWs()
      let value: string
      if (header[i] === '"') {
        i++
        let v = ''
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++
          v += header[i]
          i++
        }
        if (header[i] !== '"') return null
        i++
        value = v
      } else {
        // token68 padding (`abc==`) or a bare token value.
        const start = i
        while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++
        value = header.slice(start, i)
      }
      if (++params > MAX_PARAMS) return null
      ch.params.push([name.toLowerCase(), value])
      skipWs()
      if (header[i] === ',') i++
    }
  }
  return out
}

function quote(v: string): string {
  return '"' + v.replace(/(["\\])/g, '\\$1') + '"'
}

export function serializeChallenge(ch: Challenge): string {
  if (ch.token68 !== undefined) return `${ch.scheme} ${ch.token68}`
  if (ch.params.length === 0) return ch.scheme
  return `${ch.scheme} ${ch.params.map(([k, v]) => `${k}=${quote(v)}`).join(',')}`
}

export function param(ch: Challenge, name: string): string | undefined {
  return ch.params.find(([k]) => k === name)?.[1]
}

export function withParam(ch: Challenge, name: string, value: string): Challenge {
  return { ...ch, params: ch.params.map(([k, v]) => [k, k === name ? value : v] as [string, string]) }
}

/** The realm of a Bearer challenge as an http(s) URL; null for anything else. */
export function bearerRealm(ch: Challenge): URL | null {
  if (ch.scheme.toLowerCase() !== 'bearer') return null
  try {
    const url = new URL(param(ch, 'realm') ?? '')
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : null
  } catch {
    return null
  }
}
