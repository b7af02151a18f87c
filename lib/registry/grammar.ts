// The distribution spec's grammar for repository names, references and
// digests, and the shape of a /v2/ path. Parsers return a value or null;
// nothing that fails here ever reaches the disk or an upstream.

const component = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*'
const nameRe = new RegExp(`^${component}(?:/${component})*$`)
const tagRe = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/
const digestHex = { sha256: /^[a-f0-9]{64}$/, sha512: /^[a-f0-9]{128}$/ } as const

export type DigestAlgorithm = keyof typeof digestHex

export interface ParsedDigest {
  algorithm: DigestAlgorithm
  hex: string
}

/** Names longer than this are refused (distribution's own limit is 255). */
export const MAX_NAME_LENGTH = 255

export function isName(s: string): boolean {
  return s.length > 0 && s.length <= MAX_NAME_LENGTH && nameRe.test(s)
}
export function isTag(s: string): boolean {
  return tagRe.test(s)
}
/** 'sha256:<64 hex>' or 'sha512:<128 hex>' → its parts; null for anything else. */
export function parseDigest(digest: string): ParsedDigest | null {
  const colon = digest.indexOf(':')
  const algorithm = digest.slice(0, colon)
  if (algorithm !== 'sha256' && algorithm !== 'sha512') return null
  const hex = digest.slice(colon + 1)
  return digestHex[algorithm].test(hex) ? { algorithm, hex } : null
}

export function isDigest(s: string): boolean {
  return parseDigest(s) !== null
}

/** What the caches key on: sha256 digests only. */
export function isSha256Digest(s: string): boolean {
  return parseDigest(s)?.algorithm === 'sha256'
}

export type V2Kind = 'base' | 'manifests' | 'blobs' | 'tags' | 'referrers'

export type V2Path =
  | { kind: 'base' }
  | { kind: 'manifests'; name: string; reference: string; byDigest: boolean }
  | { kind: 'blobs'; name: string; digest: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string }

export type V2ParseResult = V2Path | { invalid: 'name' | 'digest' | 'reference' | 'path'; detail: string }

/**
 * Splits a raw (still percent-encoded) path. Encoded characters are refused
 * outright: no valid name, tag or digest contains one, and decoding would
 * open the door to `%2e%2e` and `%2f` tricks.
 */
export function parseV2Path(rawPath: string): V2ParseResult {
  if (rawPath === '/v2' || rawPath === '/v2/') return { kind: 'base' }
  if (!rawPath.startsWith('/v2/')) return { invalid: 'path', detail: rawPath }
  const rest = rawPath.slice(4)
  if (/[%\\\0]/.test(rest)) return { invalid: 'name', detail: 'encoded or escaped characters are not allowed' }

  const tags = /^(.+)\/tags\/list$/.exec(rest)
  if (tags) {
    const name = tags[1] as string
    return isName(name) ? { kind: 'tags', name } : { invalid: 'name', detail: name }
  }
  const m = /^(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(rest)
  if (!m) return { invalid: 'path', detail: rawPath }
  const name = m[1] as string
  const what = m[2] as 'manifests' | 'blobs' | 'referrers'
  const ref = m[3] as string
  if (!isName(name)) return { invalid: 'name', detail: name }
  if (what === 'manifests') {
    if (isDigest(ref)) return { kind: 'manifests', name, reference: ref, byDigest: true }
    if (isTag(ref)) return { kind: 'manifests', name, reference: ref, byDigest: false }
    return ref.includes(':')
      ? { invalid: 'digest', detail: ref }
      : { invalid: 'reference', detail: ref }
  }
  if (!isDigest(ref)) return { invalid: 'digest', detail: ref }
  return what === 'blobs' ? { kind: 'blobs', name, digest: ref } : { kind: 'referrers', name, digest: ref }
}

/** Rebuilds the upstream path for a parsed request with a (possibly normalised) name. */
export function v2PathFor(p: V2Path, name: string): string {
  switch (p.kind) {
    case 'base':
      return '/v2/'
    case 'manifests':
      return `/v2/${name}/manifests/${p.reference}`
    case 'blobs':
      return `/v2/${name}/blobs/${p.digest}`
    case 'tags':
      return `/v2/${name}/tags/list`
    case 'referrers':
      return `/v2/${name}/referrers/${p.digest}`
  }
}
