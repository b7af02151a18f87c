// Answers a manifest request from the cache with the headers a registry
// sends (protocol.md §9): Content-Type (the media type), the exact
// Content-Length and Docker-Content-Digest. An If-None-Match naming the
// digest gets a 304, as from distribution (RFC 9110 §13.1.2).
import type { OutgoingHttpHeaders } from 'node:http'
import type { RequestContext } from '../context.js'
import type { StoredManifest } from '../manifests/manifest-cache.js'

export function serveCached(
  ctx: RequestContext,
  m: StoredManifest,
  source: 'cache' | 'stale',
  /** Headers of the upstream's answer this serve stands in for (its Content-Type wins), plus any Warning. */
  extra: OutgoingHttpHeaders = {},
): void {
  ctx.source = source
  const headers: OutgoingHttpHeaders = {
    'docker-distribution-api-version': 'registry/2.0',
    etag: `"${m.digest}"`,
    ...extra,
    'content-type': extra['content-type'] ?? m.mediaType,
    'content-length': String(m.body.length),
    'docker-content-digest': m.digest,
  }
  if (matchesIfNoneMatch(ctx.req.headers['if-none-match'], m.digest)) {
    delete headers['content-length']
    ctx.res.writeHead(304, headers)
    ctx.res.end()
    return
  }
  ctx.res.writeHead(200, headers)
  ctx.res.end(ctx.head ? undefined : m.body)
}

function matchesIfNoneMatch(h: string | undefined, digest: string): boolean {
  if (!h) return false
  return h.split(',').some((part) => {
    const v = part.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1')
    return v === '*' || v === digest
  })
}
