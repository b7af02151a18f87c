// What a /v2 request aims at upstream, the plain pass-through (blobs without
// a cache, tags/list, referrers, /v2/, HEADs of uncached blobs; blob bodies
// verified on their way), and what an upstream answer proves about access
// (lib/auth/grants.ts).
import type { ProxyDeps, RequestContext } from '../context.js'
import { ProxyError, type RegistryCode } from '../errors.js'
import { first } from '../stages/headers.js'
import type { V2Path } from '../registry/grammar.js'
import type { Upstream } from '../registry/upstreams.js'
import type { UpstreamRequest, UpstreamResponse } from '../upstream/types.js'
import { recordAccess } from './record-access.js'
import { type BodyStages, responseHeaders, sendUpstream } from './upstream-response.js'

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
  recordTargetAccess(ctx, deps, t, res.status)
  if (t.parsed.kind === 'blobs') throwStorageRefusal(ctx, t, res)
  const headers = responseHeaders(ctx, deps, t.upstream, res)
  const stages: BodyStages = {}
  const p = t.parsed
  if (res.status === 200 && p.kind === 'blobs') {
    // A CDN knows nothing of digests; the path told us which one it must be.
    headers['docker-content-digest'] = p.digest
    stages.verify = { digest: p.digest, hashing: deps.hashing }
  }
  await sendUpstream(ctx, res, headers, stages)
}

export function recordTargetAccess(ctx: RequestContext, deps: ProxyDeps, t: Target, status: number): void {
  if (t.parsed.kind === 'base') return
  // Only a GET the upstream answered proves anything about a blob: lenient
  // registries answer HEAD for a digest stored anywhere, without asking for
  // credentials, so a HEAD accepts neither the credential nor the link.
  if (t.parsed.kind === 'blobs' && ctx.head) return
  recordAccess(ctx, deps, t, status, t.parsed.kind === 'blobs' ? t.parsed.digest : undefined)
}

/** The request for the whole blob, whatever range the client asked for (sendRange cuts it). */
export function wholeBlob(t: Target, signal: AbortSignal): UpstreamRequest {
  const headers = { ...t.request.headers }
  delete headers['range']
  return { ...t.request, method: 'GET', headers, signal }
}

/**
 * A GET whose redirect led to an error (a CDN or object store): the body is
 * the store's own (S3's XML, a CDN's HTML page), which no registry client
 * reads. The status passes on, with its Retry-After, and the body becomes a
 * registry error: a missing object is an unknown blob. A 416 passes as it
 * is (its Content-Range tells the blob's size), and so do the registry's own
 * errors (any member of the entry's chain).
 */
export function throwStorageRefusal(ctx: RequestContext, t: Target, res: UpstreamResponse): void {
  if (res.status < 400 || res.status === 416 || ctx.head) return
  if (t.upstream.chain.members.some((m) => m.url.origin === res.url.origin)) return
  res.body.resume()
  const where = res.url.host
  const retryAfter = first(res.headers, 'retry-after')
  const headers = retryAfter !== undefined && /^[\w ,:+-]{1,64}$/.test(retryAfter) ? { 'retry-after': retryAfter } : undefined
  const message =
    res.status === 404 ? `blob unknown: the upstream's storage (${where}) has no such object` : `the upstream's storage (${where}) answered ${res.status}`
  throw new ProxyError(res.status, storageCodes[res.status] ?? 'BAD_GATEWAY', message, { headers })
}

const storageCodes: Record<number, RegistryCode> = {
  401: 'DENIED',
  403: 'DENIED',
  404: 'BLOB_UNKNOWN',
  429: 'TOOMANYREQUESTS',
  503: 'UNAVAILABLE',
  504: 'GATEWAY_TIMEOUT',
}
