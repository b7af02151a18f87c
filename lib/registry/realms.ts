// Token realms: rewriting them to this proxy, and the allow-list of realms
// that configured upstreams announced. /token/ reaches only those, so it is
// never an open proxy.
//
//   upstream says   Bearer realm="https://auth.docker.io/token",service="…"
//   client sees     Bearer realm="http://<proxy>/token/docker/https/auth.docker.io/token",service="…"
//
// The upstream key in the path says who announced the realm, so a process
// that has not seen that challenge yet (restart, another worker) can ask
// that upstream alone instead of trusting the path.
import { LRUCache } from 'lru-cache'
import { bearerRealm, type Challenge, parseChallenges, param, serializeChallenge, withParam } from './challenge.js'

export interface TokenTarget {
  upstreamKey: string
  /** `scheme://host[:port]/path` without query. */
  realmKey: string
}

// A map key, and `@<n>` for the n-th fallback of its chain (lib/upstream/chain.ts).
const keyRe = /^[a-z0-9][a-z0-9._-]*(@\d{1,2})?$/

export function realmKey(realm: URL): string {
  return `${realm.protocol}//${realm.host}${realm.pathname}`
}

export function tokenPathFor(upstreamKey: string, realm: URL): string {
  const scheme = realm.protocol.replace(/:$/, '')
  return `/token/${upstreamKey.toLowerCase()}/${scheme}/${realm.host}${realm.pathname}`
}

/** Parses the raw (undecoded) path of a /token/ request. */
export function parseTokenPath(rawPath: string): TokenTarget | null {
  const m = /^\/token\/([^/]+)\/(https?)\/([^/]+)(\/[^?#]*)?$/.exec(rawPath)
  if (!m) return null
  const key = m[1] as string
  const host = (m[3] as string).toLowerCase()
  const path = m[4] ?? '/'
  if (!keyRe.test(key)) return null
  // Only plain host[:port] and unencoded, dot-segment-free paths: what
  // tokenPathFor produced. Anything else was not written by us.
  if (!/^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/.test(host)) return null
  if (/[%\\\0]/.test(path) || /(^|\/)\.\.?(\/|$)/.test(path)) return null
  return { upstreamKey: key, realmKey: `${m[2]}://${host}${path}` }
}

/**
 * Real registries announce one realm or a handful; the bound keeps an
 * upstream that announces a new realm in every response from growing memory
 * without end (the least recently announced or used are forgotten, and are
 * learned again by discovery if they were genuine).
 */
export const MAX_REALMS = 1024

export class RealmRegistry {
  /** `upstreamKey realmKey` → the announced realm (with its own query). */
  private readonly announced = new LRUCache<string, URL>({ max: MAX_REALMS })

  record(upstreamKey: string, realm: URL): void {
    this.announced.set(`${upstreamKey.toLowerCase()} ${realmKey(realm)}`, realm)
  }

  lookup(t: TokenTarget): URL | undefined {
    return this.announced.get(`${t.upstreamKey} ${t.realmKey}`)
  }

  get size(): number {
    return this.announced.size
  }
}

/** A challenge is a few hundred bytes; more is handed to nobody. */
export const MAX_CHALLENGE_LENGTH = 8 * 1024
/** Registries send one or two WWW-Authenticate values; more are dropped. */
export const MAX_CHALLENGES = 16

/**
 * Rewrites every Bearer realm in the WWW-Authenticate values and records the
 * realms as announced by `upstreamKey`. Values that do not parse, or are
 * longer than MAX_CHALLENGE_LENGTH, are dropped, and so is a Bearer challenge
 * whose realm is not an http(s) URL: handing a client a challenge we cannot
 * vouch for (or one that sends it around the proxy) helps nobody. At most
 * MAX_CHALLENGES values are kept.
 */
export function rewriteChallenges(
  values: string[],
  upstreamKey: string,
  proxyOrigin: string,
  realms: RealmRegistry,
): string[] {
  const out: string[] = []
  for (const value of values) {
    if (out.length >= MAX_CHALLENGES) break
    if (value.length > MAX_CHALLENGE_LENGTH) continue
    const challenges = parseChallenges(value)
    if (!challenges) continue
    const kept: Challenge[] = []
    for (const ch of challenges) {
      if (ch.scheme.toLowerCase() !== 'bearer') {
        kept.push(ch)
        continue
      }
      const url = bearerRealm(ch)
      if (!url) continue
      realms.record(upstreamKey, url)
      kept.push(withParam(ch, 'realm', proxyOrigin + tokenPathFor(upstreamKey, url)))
    }
    if (kept.length) out.push(kept.map(serializeChallenge).join(', '))
  }
  return out
}

/** Docker Hub: `repository:alpine:pull` → `repository:library/alpine:pull`. */
export function normaliseScope(scope: string): string {
  return scope
    .split(' ')
    .map((s) => {
      const m = /^repository:([^:/]+):(.*)$/.exec(s)
      return m ? `repository:library/${m[1]}:${m[2]}` : s
    })
    .join(' ')
}
