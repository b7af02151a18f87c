// Image references as `docker pull` reads them, and where each goes on the
// proxy.
//
//   alpine:3.19                    no registry: the proxy's default route,
//                                  name sent as written (a Docker Hub
//                                  upstream reads `alpine` as library/alpine)
//   <proxy host:port>/team/app:1   the proxy itself named as the registry
//                                  (as in CI jobs that pull crproxy:5000/…):
//                                  the default route too
//   docker.io/alpine               any other registry: ?ns=<registry> on every
//   ghcr.io/org/app@sha256:…       /v2/ request, as containerd sends to a
//                                  mirror; the proxy picks the map entry of
//                                  that registry, or answers 404
//
// Host routing (`<key>.<suffix>`) needs no ns: point --proxy at that host
// name and write references without a registry.
import { isDigest, isName, isTag } from '../../registry/grammar.js'

export interface ImageReference {
  /** As the user wrote it, for messages. */
  raw: string
  /** `docker.io`, `ghcr.io`, `127.0.0.1:5000`; null when none was written. */
  registry: string | null
  repo: string
  /** The tag (default `latest` when there is no digest). */
  tag: string | null
  digest: string | null
}

const hubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'])

/** The reference, or an error message. */
export function parseReference(raw: string): ImageReference | string {
  const s = raw.trim()
  let rest = s
  let digest: string | null = null
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!isDigest(digest)) return `${raw}: ${JSON.stringify(digest)} is not a digest (sha256:<64 hex>)`
  }
  let tag: string | null = null
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!isTag(tag)) return `${raw}: ${JSON.stringify(tag)} is not a tag`
  }
  let registry: string | null = null
  const slash = rest.indexOf('/')
  const first = slash === -1 ? '' : rest.slice(0, slash)
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first.toLowerCase()
    rest = rest.slice(slash + 1)
  }
  if (registry && hubAliases.has(registry)) {
    registry = 'docker.io'
    if (!rest.includes('/')) rest = `library/${rest}`
  }
  if (!isName(rest)) return `${raw}: ${JSON.stringify(rest)} is not a repository name (lowercase, e.g. library/alpine)`
  if (!tag && !digest) tag = 'latest'
  return { raw: s, registry, repo: rest, tag, digest }
}

/** The `?ns=` to send for this reference through the proxy at `proxy` (null: the proxy's default route). */
export function namespaceFor(ref: ImageReference, proxy: URL): string | null {
  if (!ref.registry) return null
  const port = proxy.port || (proxy.protocol === 'https:' ? '443' : '80')
  const own = [proxy.host.toLowerCase(), `${proxy.hostname.toLowerCase()}:${port}`]
  return own.includes(ref.registry) ? null : ref.registry
}

/** Short form for progress lines: `repo:tag` or `repo@sha256:abcdef012345`. */
export function shortName(ref: ImageReference): string {
  return ref.digest ? `${ref.repo}@${ref.digest.slice(0, 19)}` : `${ref.repo}:${ref.tag}`
}

/** References from a file's text: one a line, `#` starts a comment, blank lines skipped. */
export function referencesIn(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter((l) => l !== '')
}
