// Ages for `cache gc --older-than`: the proxy's durations (lib/config.ts
// parseDuration: ms, s, m, h) plus days and weeks, which is what cache ages
// are counted in.
import { ConfigError, parseDuration } from '../../config.js'

export function parseAge(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(d|w)$/.exec(s.trim())
  if (m) return Math.round(Number(m[1]) * (m[2] === 'd' ? 86_400_000 : 7 * 86_400_000))
  try {
    return parseDuration(s, what)
  } catch {
    throw new ConfigError(`${what}: ${JSON.stringify(s)} is not an age (e.g. 90m, 12h, 7d, 2w)`)
  }
}
