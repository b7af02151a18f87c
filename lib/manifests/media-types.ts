// Accept negotiation for manifests served from the cache (RFC 9110 §12.5.1).
// The upstream negotiates what it sends; the cache only ever re-serves a media
// type the client's Accept admits, so it can never hand a Docker-only client
// an OCI index. A request without Accept is not negotiated here at all: what
// registries send then differs between implementations, so such requests
// always go upstream.
import { createHash } from 'node:crypto'

export interface MediaRange {
  /** `type/subtype`, `type/*` or `*\/*`, lower-cased. */
  range: string
  /** Quality, 0..1; 0 means "not acceptable". */
  q: number
}

/** A parsed Accept header; null when the request had none (or only blanks). */
export type AcceptList = readonly MediaRange[]

const token = /^[a-z0-9!#$&^_.+-]+$/
const mediaTypeRe = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+$/

/** `application/vnd.oci.image.index.v1+json; charset=utf-8` → its essence; null if not a media type. */
export function essence(contentType: string | undefined): string | null {
  if (contentType === undefined) return null
  const t = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return mediaTypeRe.test(t) ? t : null
}

export function parseAccept(header: string | string[] | undefined): AcceptList | null {
  const raw = Array.isArray(header) ? header.join(',') : header ?? ''
  const out: MediaRange[] = []
  for (const part of raw.split(',')) {
    const [type, ...params] = part.split(';')
    const range = (type ?? '').trim().toLowerCase()
    const [main, sub] = range.split('/')
    if (main === undefined || sub === undefined) continue
    if (main === '*' ? sub !== '*' : !token.test(main) || (sub !== '*' && !token.test(sub))) continue
    let q = 1
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p)
      if (m) q = Math.min(1, Math.max(0, Number(m[1]) || 0))
    }
    out.push({ range, q })
  }
  return out.length ? out : null
}

/** The most specific range of `accept` that matches `mediaType`, and whether it names the type itself. */
function bestRange(accept: AcceptList, mediaType: string): { range: MediaRange; exact: boolean } | undefined {
  const main = mediaType.split('/')[0] ?? ''
  let best: MediaRange | undefined
  let bestRank = -1
  for (const r of accept) {
    const rank = r.range === mediaType ? 2 : r.range === `${main}/*` ? 1 : r.range === '*/*' ? 0 : -1
    if (rank > bestRank) {
      best = r
      bestRank = rank
    }
  }
  return best && { range: best, exact: bestRank === 2 }
}

/**
 * Does `accept` admit `mediaType`? The most specific matching range decides
 * (`type/subtype` over `type/*` over `*\/*`), so `…index…;q=0, *\/*` refuses
 * an index.
 */
export function accepts(accept: AcceptList | null, mediaType: string): boolean {
  if (!accept) return false
  const best = bestRange(accept, mediaType)
  return best !== undefined && best.range.q > 0
}

/**
 * The manifest media types an upstream chooses between (sorted). Registries
 * decide by which of these the Accept names; any other type in it changes
 * nothing.
 */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.oci.artifact.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
] as const

/**
 * Identifies "what this client asked for" in the tag records: the upstream's
 * answer for a tag depends on Accept (a list, or one platform's manifest).
 * Only the manifest media types count, each as named (with q > 0), admitted
 * by a wildcard only, or refused (q=0 or not admitted), so the spellings of
 * one request (order, duplicates, case, spaces, other types, parameters,
 * weights) share one key, and there are few keys per tag. Relative weights
 * are ignored, as registries ignore them; whether a type is refused still
 * matters, to the cache's own rule (accepts()).
 */
export function acceptKey(accept: AcceptList | null): string {
  if (!accept) return '-'
  const named: string[] = []
  const wild: string[] = []
  for (const [i, t] of MANIFEST_MEDIA_TYPES.entries()) {
    const best = bestRange(accept, t)
    if (!best || best.range.q <= 0) continue
    if (best.exact) named.push(String(i))
    else wild.push(String(i))
  }
  // Positions in MANIFEST_MEDIA_TYPES: the key is hashed into a file name, never shown.
  return `${named.join(',')};*=${wild.join(',')}`
}

/** File-name-safe identity of (tag, Accept) for the on-disk tag records. */
export function tagRecordId(tag: string, key: string): string {
  return createHash('sha256').update(`${tag}\n${key}`).digest('hex').slice(0, 32)
}
