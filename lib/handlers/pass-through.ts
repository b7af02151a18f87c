// What a /v2 request aims at upstream, the plain pass-through (blobs without
// a cache, tags/list, referrers, /v2/, HEADs of uncached blobs; blob bodies
// verified on their way), and what an upstream answer proves about access
// (lib/auth/grants.ts).
import type { Transform } from 'node:stream'
import type { ProxyDeps, RequestContext } from '../context.js'
import type { V2Path } from '../registry/grammar.js'
import type { Upstream } from '../registry/upstreams.js'
import { VerifyDigest } from '../integrity/verify-digest.js'
import type { UpstreamRequest } from '../upstream/types.js'
import { contentLength, responseHeaders, sendUpstream } from './upstream-response.js'

export interface Target {
  upstream: Upstream
  parsed: V2Path
  /** Name as the upstream knows it (`library/` added for Docker Hub). */
  name: string
  request: UpstreamRequest
}

/** Straight to the upstream (blobs, tags/list, referrers, /v2/); verifies blobs. */
export async function proxy(ctx: RequestContext, deps: ProxyDeps, t: Target): Promise<void> {
  const res = await deps.registry.request({ ...t.request, log: ctx.log })
  ctx.source = 'upstream'
  recordAccess(ctx, deps, t, res.status)
  const headers = responseHeaders(ctx, deps, t.upstream, res)
  const stages: Transform[] = []
  const p = t.parsed
  if (res.status === 200 && p.kind === 'blobs') {
    const digest = p.digest
    // A CDN knows nothing of digests; the path told us which one it must be.
    headers['docker-content-digest'] = digest
    if (!ctx.head) {
      const size = contentLength(res)
      stages.push(new VerifyDigest({ digest, size, hasher: deps.hashing.create(size) }))
    }
  }
  await sendUpstream(ctx, res, headers, stages)
}

export function recordAccess(ctx: RequestContext, deps: ProxyDeps, t: Target, status: number): void {
  if (t.parsed.kind === 'base' || !((status >= 200 && status < 300) || status === 304)) return
  // Only a GET the upstream answered proves anything about a blob: lenient
  // registries answer HEAD for a digest stored anywhere, without asking for
  // credentials, so a HEAD accepts neither the credential nor the link.
  if (t.parsed.kind === 'blobs' && ctx.head) return
  deps.grants.recordAccepted(t.upstream.key, t.name, ctx.req.headers.authorization)
  if (t.parsed.kind === 'blobs') deps.grants.recordBlob(t.upstream.key, t.name, t.parsed.digest)
}

/** The request for the whole blob, whatever range the client asked for (sendRange cuts it). */
export function wholeBlob(t: Target, signal: AbortSignal): UpstreamRequest {
  const headers = { ...t.request.headers }
  delete headers['range']
  return { ...t.request, method: 'GET', headers, signal }
}
