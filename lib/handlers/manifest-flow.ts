// One manifest request on its way through the proxy, and its upstream side:
// the request (HEAD or GET, counted), what an upstream answer teaches the
// grants, and sending that answer to the client (verified when addressed by
// digest, stored in the cache when it is a 200 GET of at most 4 MiB, before
// the client's last byte).
import type { OutgoingHttpHeaders } from 'node:http'
import { isSha256Digest } from '../registry/grammar.js'
import type { ProxyDeps, RequestContext } from '../context.js'
import { recordAccess } from './record-access.js'
import { type BodyStages, contentLength, responseHeaders, sendUpstream } from './upstream-response.js'
import type { Upstream } from '../registry/upstreams.js'
import { first } from '../stages/headers.js'
import type { UpstreamRequest, UpstreamResponse } from '../upstream/types.js'
import { CaptureUpTo } from '../manifests/capture.js'
import { MAX_MANIFEST_SIZE, type ManifestCache } from '../manifests/manifest-cache.js'
import type { ManifestMetrics } from '../manifests/manifest-metrics.js'
import { type AcceptList, essence } from '../manifests/media-types.js'
import { sha256Hex } from '../manifests/disk-store.js'

export interface ManifestTarget {
  upstream: Upstream
  /** Name as the upstream knows it (`library/` added for Docker Hub). */
  name: string
  /** Tag or digest, as validated by the grammar. */
  reference: string
  byDigest: boolean
  /** The request as it goes upstream: the client's method, Accept and Authorization. */
  request: UpstreamRequest
}

export interface Flow {
  ctx: RequestContext
  deps: ProxyDeps
  t: ManifestTarget
  metrics: ManifestMetrics
  /** The client's Accept; null when it sent none. */
  accept: AcceptList | null
}

/** Which tag record an answer updates: the tag as this client asked for it. */
export interface TagRef {
  tag: string
  acceptKey: string
}


export async function requestUpstream(f: Flow, method: 'HEAD' | 'GET'): Promise<UpstreamResponse> {
  f.metrics.upstream(method)
  const headers = { ...f.t.request.headers }
  if (method === 'HEAD' && !f.ctx.head) {
    // A check on behalf of a GET: the answer must carry the digest, not 304/206.
    delete headers['range']
    delete headers['if-none-match']
    delete headers['if-match']
  }
  return f.deps.registry.request({ ...f.t.request, method, headers, log: f.ctx.log })
}

/** 429 and 5xx: the upstream is there but cannot answer now. */
export function isUpstreamFailureStatus(status: number): boolean {
  return status === 429 || status >= 500
}

/** The digest an upstream 200 names: the path's for a digest request, else Docker-Content-Digest. */
export function announcedDigest(f: Flow, res: UpstreamResponse): string | undefined {
  const d = f.t.byDigest ? f.t.reference : first(res.headers, 'docker-content-digest')?.trim()
  return d !== undefined && isSha256Digest(d) ? d : undefined
}

/** A manifest answer's access record: a 200 says this repository holds the digest it names. */
export function recordManifestAccess(f: Flow, res: UpstreamResponse): void {
  recordAccess(f.ctx, f.deps, f.t, res.status, res.status === 200 ? announcedDigest(f, res) : undefined)
}

/** Sends an upstream answer to the client; with a cache, stores a verified copy of a 200 GET body. */
export async function sendFromUpstream(
  f: Flow,
  res: UpstreamResponse,
  cache: ManifestCache | undefined,
  tag?: TagRef,
): Promise<void> {
  const { ctx, deps, t } = f
  ctx.source = 'upstream'
  recordManifestAccess(f, res)
  const headers: OutgoingHttpHeaders = responseHeaders(ctx, deps, t.upstream, res)
  const stages: BodyStages = {}
  if (res.status === 200 && t.byDigest) {
    // The path told us which digest the bytes must have.
    headers['docker-content-digest'] = t.reference
    stages.verify = { digest: t.reference }
  }
  const mediaType = essence(first(res.headers, 'content-type'))
  const size = contentLength(res)
  if (cache && res.status === 200 && !ctx.head && mediaType && (size === undefined || size <= MAX_MANIFEST_SIZE)) {
    stages.copy = new CaptureUpTo({ limit: MAX_MANIFEST_SIZE, commit: (body) => store(f, cache, res, mediaType, body, tag) })
  }
  await sendUpstream(ctx, res, headers, stages)
}

/** How long a client's last byte may wait for the disk; the write goes on after that. */
const COMMIT_WAIT_MS = 2000

/** Verifies and stores a captured 200 body (then its tag record), waiting for the disk a bounded time. */
async function store(
  f: Flow,
  cache: ManifestCache,
  res: UpstreamResponse,
  mediaType: string,
  body: Buffer,
  tag: TagRef | undefined,
): Promise<void> {
  const { ctx, deps, t } = f
  const digest = `sha256:${sha256Hex(body)}`
  const expected = t.byDigest ? t.reference : first(res.headers, 'docker-content-digest')?.trim()
  if (expected !== undefined && expected !== digest) {
    // By digest, VerifyDigest has already failed such a body; by tag the
    // upstream's header disagrees with its bytes: passed on as before, not cached.
    if (!t.byDigest) ctx.log.warn('manifest body does not match Docker-Content-Digest: not cached', { expected, found: digest })
    return
  }
  const written = cache.put(t.upstream.key, t.name, { digest, mediaType, body })
  if (!written) return
  deps.grants.recordBlob(t.upstream.key, t.name, digest)
  const recorded = tag ? cache.recordTag(t.upstream.key, t.name, tag.tag, tag.acceptKey, { digest, mediaType }) : undefined
  let timer: NodeJS.Timeout | undefined
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, COMMIT_WAIT_MS)))
  await Promise.race([Promise.all([written, recorded]), bound])
  clearTimeout(timer)
}
