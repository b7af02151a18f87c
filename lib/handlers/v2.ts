// /v2/… : validate → route → (blob cache) → upstream with redirects → stages
// → client. Manifests go to lib/manifests/handler.ts (digest cache, tag
// revalidation by HEAD, offline fallback); blobs may come from the cache (see
// lib/auth/grants.ts for who may be served a hit).
import { once } from 'node:events'
import type { OutgoingHttpHeaders } from 'node:http'
import type { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { sendBlob } from '../cache/read-stream.js'
import type { ByteRange, FillClaim, FillFollower } from '../cache/types.js'
import type { ProxyDeps, RequestContext } from '../context.js'
import { handleManifest } from '../manifests/handler.js'
import { digestInvalid, nameInvalid, notFound, ProxyError, rangeNotSatisfiable, unsupported, UpstreamError } from '../errors.js'
import { parseV2Path, type V2Path, v2PathFor } from '../registry/grammar.js'
import { parseRange } from '../registry/range.js'
import { upstreamName } from '../registry/route.js'
import type { Upstream } from '../registry/upstreams.js'
import { first, upstreamRequestHeaders } from '../stages/headers.js'
import { requestFollowingRedirects } from '../stages/redirect.js'
import { RangeSlice } from '../stages/range-slice.js'
import { VerifyDigest } from '../stages/verify-digest.js'
import type { UpstreamRequest, UpstreamResponse } from '../upstream/types.js'
import { responseHeaders, sendUpstream } from './upstream-response.js'

const errorCodeFor: Record<number, ProxyError['code']> = {
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'BLOB_UNKNOWN',
  429: 'TOOMANYREQUESTS',
}

interface Target {
  upstream: Upstream
  parsed: V2Path
  /** Name as the upstream knows it (`library/` added for Docker Hub). */
  name: string
  request: UpstreamRequest
}

export async function handleV2(ctx: RequestContext, deps: ProxyDeps): Promise<void> {
  if (deps.upstreamAuth) deps = { ...deps, transport: deps.upstreamAuth } // --auth-file: lib/auth/upstream-credentials.ts
  const { req } = ctx
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw unsupported(`${req.method} is not supported: this is a read-only pull-through proxy`)
  }
  const parsed = parseV2Path(ctx.rawPath)
  if ('invalid' in parsed) {
    if (parsed.invalid === 'name') throw nameInvalid('invalid repository name', { name: parsed.detail })
    if (parsed.invalid === 'digest') throw digestInvalid('invalid digest', { digest: parsed.detail })
    if (parsed.invalid === 'reference') {
      throw new ProxyError(400, 'MANIFEST_INVALID', 'invalid tag', { detail: { tag: parsed.detail } })
    }
    throw notFound('no such endpoint')
  }
  const routed = deps.router.resolve({ host: req.headers.host, ns: ctx.query.get('ns') })
  if (routed instanceof ProxyError) throw routed
  const upstream = routed
  ctx.upstreamKey = upstream.key
  const name = parsed.kind === 'base' ? '' : upstreamName(upstream, parsed.name)

  const url = new URL(upstream.url.href.replace(/\/$/, '') + v2PathFor(parsed, name))
  // Pagination (`n`, `last`) and referrer filters (`artifactType`) pass on;
  // `ns` was ours.
  for (const [k, v] of ctx.query) if (k !== 'ns') url.searchParams.append(k, v)
  const request: UpstreamRequest = {
    method: ctx.head ? 'HEAD' : 'GET',
    url,
    headers: { ...upstreamRequestHeaders(req.headers), 'x-request-id': ctx.id },
    signal: ctx.signal,
    client: ctx.client,
  }
  const target: Target = { upstream, parsed, name, request }

  if (parsed.kind === 'manifests') {
    return handleManifest(ctx, deps, { upstream, name, reference: parsed.reference, byDigest: parsed.byDigest, request })
  }
  if (parsed.kind === 'blobs' && deps.cache) return serveBlobWithCache(ctx, deps, target, parsed.digest)
  return proxy(ctx, deps, target)
}

/** Straight to the upstream (blobs, tags/list, referrers, /v2/); verifies blobs. */
async function proxy(ctx: RequestContext, deps: ProxyDeps, t: Target): Promise<void> {
  const res = await requestFollowingRedirects(deps.transport, t.request, ctx.log)
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
  await sendUpstream(ctx, headers, res.status, res.body, stages)
}

function recordAccess(ctx: RequestContext, deps: ProxyDeps, t: Target, status: number): void {
  if (t.parsed.kind === 'base' || !((status >= 200 && status < 300) || status === 304)) return
  deps.grants.recordAccepted(t.upstream.key, t.name, ctx.req.headers.authorization)
  if (t.parsed.kind === 'blobs') deps.grants.recordBlob(t.upstream.key, t.name, t.parsed.digest)
}

function contentLength(res: UpstreamResponse): number | undefined {
  const s = first(res.headers, 'content-length')
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined
}

async function serveBlobWithCache(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string): Promise<void> {
  const cache = deps.cache!
  const hit = cache.lookup(digest)
  if (hit) {
    await authorised(ctx, deps, t, digest)
    const served = await serveHit(ctx, cache, digest, hit.size)
    if (served) return
    // The file vanished or no longer matched (evicted): fetch it again below.
  }
  // A Range on a miss is cut from the whole blob as it is fetched (and
  // verified) into the cache: a range the proxy passed through could not be
  // checked against the digest.
  if (ctx.head) return proxy(ctx, deps, t)

  // A follower whose fill fails before its first byte has answered nothing:
  // the blob is a miss again, and this request claims it once more (as a
  // writer, most likely). Not proxy(): a Range passed through would not be
  // verified.
  for (let attempt = 1; ; attempt++) {
    const claim = await cache.claim(digest)
    if (!claim) return proxy(ctx, deps, t)
    if (claim.role === 'writer') return fill(ctx, deps, t, claim, digest)
    try {
      await authorised(ctx, deps, t, digest)
    } catch (err) {
      claim.body.destroy()
      throw err
    }
    if (await serveFollower(ctx, claim, digest)) return
    ctx.log.debug('the fill being followed failed before its first byte', { digest, attempt })
    if (attempt === 2) throw new UpstreamError('reset', t.upstream.url.origin, `two fills of ${digest} in a row failed before their first byte`)
  }
}

/** The writer of a miss: one upstream GET, teed to the cache and the client. */
async function fill(ctx: RequestContext, deps: ProxyDeps, t: Target, claim: FillClaim, digest: string): Promise<void> {
  // The fill outlives this client (others may be waiting on it), so its
  // upstream request must not die with the client's signal.
  const controller = new AbortController()
  // The whole blob, whatever range the client asked for (sendRange cuts it).
  const headers = { ...t.request.headers }
  delete headers['range']
  let res: UpstreamResponse
  try {
    res = await requestFollowingRedirects(deps.transport, { ...t.request, headers, signal: controller.signal }, ctx.log)
  } catch (err) {
    claim.abandon()
    throw err
  }
  recordAccess(ctx, deps, t, res.status)
  if (res.status !== 200) {
    claim.abandon()
    ctx.source = 'upstream'
    return sendUpstream(ctx, responseHeaders(ctx, deps, t.upstream, res), res.status, res.body)
  }
  ctx.source = 'fill'
  const size = contentLength(res)
  const out = responseHeaders(ctx, deps, t.upstream, res)
  out['docker-content-digest'] = digest
  const body = claim.fill(res.body, size)
  if (ctx.req.headers.range !== undefined) return sendRange(ctx, out, body, size)
  ctx.res.writeHead(200, out)
  await pipeline(body, ctx.res)
}

/**
 * Streams someone else's fill. Nothing is answered before its first bytes
 * are readable, so a fill that fails before then (its upstream died, stalled
 * or sent wrong bytes, its writer process was killed) returns false with
 * nothing sent, instead of a 200 cut at zero bytes or a 500.
 */
async function serveFollower(ctx: RequestContext, f: FillFollower, digest: string): Promise<boolean> {
  ctx.source = 'follower'
  if (!(await firstBytes(f.body, () => true))) return false
  if (ctx.req.headers.range !== undefined) await sendRange(ctx, blobHeaders(digest, f.size), f.body, f.size)
  else {
    ctx.res.writeHead(200, blobHeaders(digest, f.size))
    await sendBlob(f.body, ctx.res)
  }
  return true
}

/**
 * A Range request answered from a whole, verified blob stream (a fill or a
 * follower): 206 with the slice (its last byte held until the blob verified),
 * 416 when unsatisfiable, the whole blob when the range does not parse or the
 * length is unknown (RFC 9110 §14.2 lets a server ignore Range).
 */
async function sendRange(ctx: RequestContext, headers: OutgoingHttpHeaders, body: Readable, size: number | undefined): Promise<void> {
  const range = size === undefined ? null : parseRange(ctx.req.headers.range, size)
  if (range === 'unsatisfiable') {
    body.destroy() // a fill goes on without us
    throw rangeNotSatisfiable(size!)
  }
  if (range === null) {
    ctx.res.writeHead(200, headers)
    return pipeline(body, ctx.res)
  }
  ctx.res.writeHead(206, { ...headers, ...partialHeaders(range, size!) })
  await pipeline(body, new RangeSlice(range), ctx.res)
}

function partialHeaders(range: ByteRange, size: number) {
  return {
    'content-length': String(range.end - range.start + 1),
    'content-range': `bytes ${range.start}-${range.end}/${size}`,
  }
}

function blobHeaders(digest: string, size: number) {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(size),
    'docker-content-digest': digest,
    'accept-ranges': 'bytes',
    'docker-distribution-api-version': 'registry/2.0',
  }
}

/** Serves a cached blob; false when its file is gone and the caller must refetch. */
async function serveHit(
  ctx: RequestContext,
  cache: NonNullable<ProxyDeps['cache']>,
  digest: string,
  size: number,
): Promise<boolean> {
  ctx.source = 'cache'
  const range = parseRange(ctx.req.headers.range, size)
  if (range === 'unsatisfiable') throw rangeNotSatisfiable(size)
  const headers: Record<string, string> = blobHeaders(digest, size)
  if (ctx.head) {
    ctx.res.writeHead(200, headers)
    ctx.res.end()
    return true
  }
  const stream = cache.createReadStream(digest, range ?? undefined)
  if (!(await firstBytes(stream, hitIsMiss))) return false
  if (range) ctx.res.writeHead(206, { ...headers, ...partialHeaders(range, size) })
  else ctx.res.writeHead(200, headers)
  await sendBlob(stream, ctx.res)
  return true
}

/**
 * Waits until the first bytes (or the end) are readable. An error before
 * then destroys the stream and, when `isMiss` says so, returns false: nothing
 * was sent, and the caller treats the blob as a miss. Other errors are thrown.
 */
async function firstBytes(stream: Readable, isMiss: (err: unknown) => boolean): Promise<boolean> {
  try {
    await Promise.race([once(stream, 'readable'), once(stream, 'end')])
    return true
  } catch (err) {
    stream.destroy()
    if (isMiss(err)) return false
    throw err
  }
}

/**
 * A hit's file gone (ENOENT), or found not to match its index entry before a
 * byte was sent (EINTEGRITY: a truncated or rotten file, already evicted).
 */
function hitIsMiss(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'EINTEGRITY'
}

/**
 * May this request be served the cached blob? If the grants do not already
 * say so, ask the upstream with a HEAD carrying the client's credentials; a
 * refusal is thrown as the upstream's status (with the challenge rewritten).
 */
async function authorised(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string): Promise<void> {
  const auth = ctx.req.headers.authorization
  if (deps.grants.mayServe(t.upstream.key, t.name, digest, auth)) return
  const probe = { ...t.request.headers }
  delete probe['range']
  const res = await requestFollowingRedirects(deps.transport, { ...t.request, method: 'HEAD', headers: probe }, ctx.log)
  res.body.resume()
  if (res.status === 200) {
    recordAccess(ctx, deps, t, 200)
    return
  }
  ctx.source = 'upstream'
  ctx.log.info('cached blob refused by upstream check', { status: res.status, digest })
  const challenge = responseHeaders(ctx, deps, t.upstream, res)['www-authenticate']
  const headers: Record<string, string> = {}
  if (challenge) headers['www-authenticate'] = Array.isArray(challenge) ? challenge.join(', ') : String(challenge)
  throw new ProxyError(res.status, errorCodeFor[res.status] ?? 'DENIED', 'access to this blob was refused upstream', {
    headers,
  })
}

