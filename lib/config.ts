// The registry map (embedded, file or URL) and its validation. Knows nothing
// of HTTP serving; fetching a map URL goes through a function the caller
// passes, so it honours the same outbound proxy settings as everything else.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { errnoReason } from './errno-reason.js'
import { jsonSyntaxError } from './json-error.js'

/** Map key → upstream URL, or a list of them: the primary, then fallbacks in order. */
export type RegistryMap = Record<string, string | string[]>

/** More fallbacks than anyone needs; each one is tried before a pull fails. */
export const MAX_CHAIN = 8

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export const embeddedMapPath = fileURLToPath(new URL('../registrymap.json', import.meta.url))

const keyRe = /^[a-z0-9][a-z0-9._-]*$/i

export function validateRegistryMap(value: unknown, source: string): RegistryMap {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`registry map ${source}: expected a JSON object of name → http(s) URL (or a list of them, tried in order)`)
  }
  const out: RegistryMap = {}
  const entries = Object.entries(value as Record<string, unknown>)
  if (entries.length === 0) throw new ConfigError(`registry map ${source}: no registries`)
  for (const [key, url] of entries) {
    if (!keyRe.test(key)) throw new ConfigError(`registry map ${source}: invalid name ${JSON.stringify(key)}`)
    const what = `registry map ${source}: ${JSON.stringify(key)}`
    if (!Array.isArray(url)) {
      out[key.toLowerCase()] = validateUpstreamUrl(url, what)
      continue
    }
    if (url.length === 0 || url.length > MAX_CHAIN) throw new ConfigError(`${what}: expected 1 to ${MAX_CHAIN} upstream URLs, got ${url.length}`)
    const list = url.map((u, i) => validateUpstreamUrl(u, `${what}[${i}]`))
    const dup = list.find((u, i) => list.findIndex((v) => new URL(v).href === new URL(u).href) !== i)
    if (dup !== undefined) throw new ConfigError(`${what}: ${JSON.stringify(dup)} is listed twice`)
    out[key.toLowerCase()] = list.length === 1 ? list[0]! : list
  }
  return out
}

export function validateUpstreamUrl(url: unknown, what: string): string {
  if (typeof url !== 'string') throw new ConfigError(`${what}: expected an http(s) URL string`)
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new ConfigError(`${what}: ${JSON.stringify(url)} is not a URL`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(`${what}: ${JSON.stringify(url)} is not an http(s) URL`)
  }
  if (u.search || u.hash || u.username || u.password) {
    throw new ConfigError(`${what}: ${JSON.stringify(url)} must not carry credentials, a query or a fragment`)
  }
  return url.replace(/\/+$/, '')
}

export type FetchText = (url: URL) => Promise<string>

export async function loadRegistryMap(source: string | undefined, fetchText: FetchText): Promise<RegistryMap> {
  const where = source ?? embeddedMapPath
  let text: string
  if (/^https?:\/\//i.test(where)) {
    try {
      text = await fetchText(new URL(where))
    } catch (err) {
      throw new ConfigError(`registry map ${where}: cannot fetch: ${(err as Error).message}`)
    }
  } else {
    try {
      text = await readFile(where, 'utf8')
    } catch (err) {
      throw new ConfigError(`registry map ${where}: cannot read: ${errnoReason(err)}`)
    }
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new ConfigError(`registry map ${where}: not valid JSON: ${jsonSyntaxError(text) ?? 'unreadable'}`)
  }
  return validateRegistryMap(parsed, where)
}

/** `500ms`, `5s`, `2m`, `1h`, `24h`, or bare seconds → milliseconds. */
export function parseDuration(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim())
  if (!m) throw new ConfigError(`${what}: ${JSON.stringify(s)} is not a duration (e.g. 500ms, 5s, 2m, 1h)`)
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!)
}

/** `:5000`, `5000`, `127.0.0.1:5000`, `[::1]:5000` → host and port. */
export function parseListen(s: string): { host: string | undefined; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]*):)?(\d{1,5})$/.exec(s.trim())
  const port = m ? Number(m[2]) : NaN
  if (!m || port > 65535) throw new ConfigError(`--listen: ${JSON.stringify(s)} is not [host]:port`)
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : undefined
  return { host, port }
}

// Sizes for --cache-max-size and friends: '500MiB', '50GiB', '2TB', '1.5G',
// '1048576'. Binary units (KiB…TiB) and bare K/M/G/T are powers of 1024;
// decimal units (KB…TB) are powers of 1000, as the IEC/SI prefixes say.
// Case-insensitive; a trailing 'B' alone means bytes.

const units: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
}

/** Bytes (an integer, rounded down) for a human size; throws on anything else. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isFinite(input) && input >= 0) return Math.floor(input)
    throw new Error(`invalid size ${input}: expected a non-negative number of bytes`)
  }
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(input)
  const unit = m ? units[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) {
    throw new Error(
      `invalid size ${JSON.stringify(input)}: expected a number with an optional unit ` +
        `(B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, K, M, G, T), e.g. 500MiB or 50GiB`,
    )
  }
  const bytes = Math.floor(Number(m[1]) * unit)
  if (!Number.isSafeInteger(bytes)) throw new Error(`invalid size ${JSON.stringify(input)}: too large`)
  return bytes
}
