// /v2/… : validate → route → (blob cache) → upstream with redirects → stages
// → client. Manifests go to lib/manifests/handler.ts (digest cache, tag
// revalidation by HEAD, offline fallback); blobs may come from the cache (see
// lib/auth/grants.ts for who may be served a hit).
import { once } from 'node:events'
import type { OutgoingHttpHeaders } from 'node:http'
import type { Readable, Transform, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { sendBlob } from '../cache/read-stream.js'
import type { ByteRange, FillClaim, FillFollower } from '../cache/types.js'
import type { ProxyDeps, RequestContext } from '../context.js'
import { handleManifest } from '../manifests/handler.js'
import { digestInvalid, nameInvalid, notFound, ProxyError, rangeNotSatisfiable, unsupported, UpstreamError } from '../errors.js'
import { parseV2Path, type V2Path, v2PathFor } from '../registry/grammar.js'
import { parseRange } from '../registry/range.js'
import { upstreamName } from '../registry/route.js'
import { upstreamSource, type Upstream } from '../registry/upstreams.js'
import { first, upstreamRequestHeaders } from '../stages/headers.js'
import { requestFollowingRedirects } from '../stages/redirect.js'
import { RangeSlice } from '../stages/range-slice.js'
import { VerifyDigest } from '../stages/verify-digest.js'
import type { UpstreamRequest, UpstreamResponse } from '../upstream/types.js'
import { contentLength, responseHeaders, sendUpstream } from './upstream-response.js'

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
    upstream: upstream.url.origin,
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
  await sendUpstream(ctx, res, headers, stages)
}

function recordAccess(ctx: RequestContext, deps: ProxyDeps, t: Target, status: number): void {
  if (t.parsed.kind === 'base' || !((status >= 200 && status < 300) || status === 304)) return
  // Only a GET the upstream answered proves anything about a blob: lenient
  // registries answer HEAD for a digest stored anywhere, without asking for
  // credentials, so a HEAD accepts neither the credential nor the link.
  if (t.parsed.kind === 'blobs' && ctx.head) return
  deps.grants.recordAccepted(t.upstream.key, t.name, ctx.req.headers.authorization)
  if (t.parsed.kind === 'blobs') deps.grants.recordBlob(t.upstream.key, t.name, t.parsed.digest)
}

async function serveBlobWithCache(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string): Promise<void> {
  const cache = deps.cache!
  // The shared copy is served only to requests routed to an upstream that
  // delivered it itself; any other upstream fills it again (cache/origins.ts).
  const source = upstreamSource(t.upstream)
  const hit = await cache.lookup(digest, source)
  // A HEAD sends no bytes: unless the grants already cover it, the upstream's
  // own answer is the one to give (a cached copy must not change it).
  if (hit && ctx.head && !granted(ctx, deps, t)) return proxy(ctx, deps, t)
  if (hit) {
    if (!(await authorised(ctx, deps, t))) return
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
    const claim = await claimWithin(cache, digest, source, deps.followTimeout)
    if (claim === 'timeout') {
      ctx.log.info('the fill of this blob has not started: fetching on our own', { digest, after: deps.followTimeout })
      return fetchUncached(ctx, deps, t, digest)
    }
    // No fill to join (the cache cannot take it, or the one waited on was
    // dropped): uncached, but a Range still comes from the verified whole.
    if (!claim) return ctx.req.headers.range === undefined ? proxy(ctx, deps, t) : fetchUncached(ctx, deps, t, digest)
    if (claim.role === 'writer') return fill(ctx, deps, t, claim, digest)
    let allowed: boolean
    try {
      allowed = await authorised(ctx, deps, t)
    } catch (err) {
      claim.body.destroy()
      throw err
    }
    if (!allowed) return void claim.body.destroy()
    const outcome = await serveFollower(ctx, deps, claim, digest)
    if (outcome === 'served') return
    if (outcome === 'stalled') {
      ctx.log.info('the fill being followed made no progress: fetching on our own', { digest, after: deps.followTimeout })
      return fetchUncached(ctx, deps, t, digest)
    }
    ctx.log.debug('the fill being followed failed before its first byte', { digest, attempt })
    if (attempt === 2) throw new UpstreamError('reset', t.upstream.url.origin, `two fills of ${digest} in a row failed before their first byte`)
  }
}

/**
 * cache.claim(), but a claim still waiting after `ms` (following a fill
 * whose upstream has not answered yet, or another process's that has not
 * started) is given up: the caller fetches on its own, and whatever the
 * claim becomes later is released.
 */
async function claimWithin(
  cache: NonNullable<ProxyDeps['cache']>,
  digest: string,
  source: string,
  ms: number,
): Promise<FillClaim | FillFollower | null | 'timeout'> {
  const claimed = cache.claim(digest, source)
  if (!Number.isFinite(ms) || ms <= 0) return claimed
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))
  const first = await Promise.race([claimed, timeout])
  clearTimeout(timer)
  if (first === 'timeout') {
    claimed.then(
      (late) => {
        if (late?.role === 'follower') late.body.destroy()
        else late?.abandon()
      },
      () => {},
    )
  }
  return first
}

/** The writer of a miss: one upstream GET, teed to the cache and the client. */
async function fill(ctx: RequestContext, deps: ProxyDeps, t: Target, claim: FillClaim, digest: string): Promise<void> {
  // The fill may outlive this client (others may be waiting on it), so its
  // upstream request must not die with the client's signal.
  const controller = new AbortController()
  let res: UpstreamResponse
  try {
    res = await requestFollowingRedirects(deps.transport, wholeBlob(t, controller.signal), ctx.log)
  } catch (err) {
    claim.abandon()
    throw err
  }
  recordAccess(ctx, deps, t, res.status)
  if (res.status !== 200) {
    claim.abandon()
    ctx.source = 'upstream'
    return sendUpstream(ctx, res, responseHeaders(ctx, deps, t.upstream, res))
  }
  ctx.source = 'fill'
  const size = contentLength(res)
  const out = responseHeaders(ctx, deps, t.upstream, res)
  out['docker-content-digest'] = digest
  // The fill fails unless exactly this many bytes arrive (lib/cache/fill.ts).
  if (size !== undefined) out['content-length'] = String(size)
  const body = claim.fill(res.body, size, wantsTail(ctx, size))
  if (claim.uncached !== undefined) ctx.source = 'upstream'
  if (ctx.req.headers.range !== undefined) return sendRange(ctx, out, body, size)
  ctx.res.writeHead(200, out)
  await pipeline(body, ctx.res)
}

/**
 * Does this request want the blob to its last byte (no Range, one that does
 * not parse, or one that runs to the end)? Such a pull, when cut, is resumed,
 * so its fill is worth finishing; a closed or unsatisfiable range's is not
 * (writer-claim.ts).
 */
function wantsTail(ctx: RequestContext, size: number | undefined): boolean {
  if (ctx.req.headers.range === undefined || size === undefined) return true
  const range = parseRange(ctx.req.headers.range, size)
  return range === null || (range !== 'unsatisfiable' && range.end === size - 1)
}

/** The request for the whole blob, whatever range the client asked for (sendRange cuts it). */
function wholeBlob(t: Target, signal: AbortSignal): UpstreamRequest {
  const headers = { ...t.request.headers }
  delete headers['range']
  return { ...t.request, method: 'GET', headers, signal }
}

/**
 * A blob fetched for this request alone, verified on its way, not cached
 * (someone else holds the fill but makes no progress). A Range is cut from
 * the whole, as on a miss.
 */
async function fetchUncached(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string): Promise<void> {
  const res = await requestFollowingRedirects(deps.transport, wholeBlob(t, ctx.signal), ctx.log)
  ctx.source = 'upstream'
  const out = responseHeaders(ctx, deps, t.upstream, res)
  if (res.status !== 200) return sendUpstream(ctx, res, out)
  out['docker-content-digest'] = digest
  const size = contentLength(res)
  // VerifyDigest fails unless exactly this many bytes arrive.
  if (size !== undefined) out['content-length'] = String(size)
  const verify = new VerifyDigest({ digest, size, hasher: deps.hashing.create(size) })
  pipeline(res.body, verify).catch(() => {}) // errors surface on `verify`
  if (ctx.req.headers.range !== undefined) return sendRange(ctx, out, verify, size)
  ctx.res.writeHead(200, out)
  await pipeline(verify, ctx.res)
}

/**
 * Streams someone else's fill. Nothing is answered before its first bytes
 * are readable, so a fill that fails before then (its upstream died, stalled
 * or sent wrong bytes, its writer process was killed) is 'failed' with
 * nothing sent, instead of a 200 cut at zero bytes or a 500; one that shows
 * no byte within the follow timeout is 'stalled', and this request fetches
 * on its own. Once streaming, a fill that makes no progress for that long
 * while the client keeps up is cut, so that the client's retry fetches on its
 * own instead of waiting out the fill's idle timeout.
 */
async function serveFollower(ctx: RequestContext, deps: ProxyDeps, f: FillFollower, digest: string): Promise<'served' | 'failed' | 'stalled'> {
  ctx.source = 'follower'
  const first = await firstBytes(f.body, () => true, deps.followTimeout)
  if (first !== 'ready') return first === 'timeout' ? 'stalled' : 'failed'
  if (f.idleMs() >= deps.followTimeout) {
    f.body.destroy() // nothing sent yet
    return 'stalled'
  }
  const stopGuard = guardProgress(f, ctx.res, deps.followTimeout, () => {
    ctx.log.warn('the fill being followed stalled mid-stream: cutting the client so that it retries', { digest })
    f.body.destroy(Object.assign(new Error('the fill being followed made no progress'), { code: 'ETIMEDOUT' }))
  })
  try {
    if (ctx.req.headers.range !== undefined) await sendRange(ctx, blobHeaders(digest, f.size), f.body, f.size)
    else {
      ctx.res.writeHead(200, blobHeaders(digest, f.size))
      await sendBlob(f.body, ctx.res)
    }
  } finally {
    stopGuard()
  }
  return 'served'
}

/**
 * Calls onStall when the fill being followed has written nothing for `ms`
 * while this follower had read all of it and its client was keeping up.
 */
function guardProgress(f: FillFollower, res: Writable, ms: number, onStall: () => void): () => void {
  if (!Number.isFinite(ms) || ms <= 0) return () => {}
  const timer = setInterval(() => {
    if (!res.writableNeedDrain && f.body.readableLength === 0 && f.idleMs() >= ms) onStall()
  }, Math.max(50, Math.min(1000, ms / 4)))
  timer.unref()
  return () => clearInterval(timer)
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
  if ((await firstBytes(stream, hitIsMiss)) !== 'ready') return false
  if (range) ctx.res.writeHead(206, { ...headers, ...partialHeaders(range, size) })
  else ctx.res.writeHead(200, headers)
  await sendBlob(stream, ctx.res)
  return true
}

/**
 * Waits until the first bytes (or the end) are readable, at most `within`
 * ms when given ('timeout': the stream is destroyed). An error before then
 * destroys the stream and, when `isMiss` says so, is 'failed': nothing was
 * sent, and the caller treats the blob as a miss. Other errors are thrown.
 */
async function firstBytes(stream: Readable, isMiss: (err: unknown) => boolean, within?: number): Promise<'ready' | 'failed' | 'timeout'> {
  const ac = new AbortController()
  const waits: Promise<unknown>[] = [once(stream, 'readable', { signal: ac.signal }), once(stream, 'end', { signal: ac.signal })]
  let timer: NodeJS.Timeout | undefined
  if (within !== undefined && Number.isFinite(within) && within > 0) {
    waits.push(new Promise((resolve) => (timer = setTimeout(() => resolve('timeout'), within))))
  }
  try {
    const outcome = await Promise.race(waits)
    if (outcome !== 'timeout') return 'ready'
    stream.destroy()
    return 'timeout'
  } catch (err) {
    stream.destroy()
    if (isMiss(err)) return 'failed'
    throw err
  } finally {
    clearTimeout(timer)
    ac.abort()
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

/** Do the grants already say this client may read this blob from this repository? */
function granted(ctx: RequestContext, deps: ProxyDeps, t: Target): boolean {
  return t.parsed.kind === 'blobs' && deps.grants.mayServe(t.upstream.key, t.name, t.parsed.digest, ctx.req.headers.authorization)
}

/**
 * May this request be served the cached blob? If the grants do not already
 * say so, the upstream decides as it would for a pull: a GET of the blob's
 * first byte with the client's credentials (a HEAD is not enough: some
 * registries answer HEAD for any blob they store, yet refuse the GET from
 * another repository). A refusal is relayed to the client exactly as the
 * upstream sent it, as on a miss, so the answer tells nothing of what is
 * cached; false then means the response was sent.
 */
async function authorised(ctx: RequestContext, deps: ProxyDeps, t: Target): Promise<boolean> {
  if (t.parsed.kind !== 'blobs') return false
  if (granted(ctx, deps, t)) return true
  const probe = wholeBlob(t, ctx.signal)
  probe.headers = { ...probe.headers, range: 'bytes=0-0' }
  const res = await requestFollowingRedirects(deps.transport, probe, ctx.log)
  if (res.status === 200 || res.status === 206) {
    // A 200 may be the whole blob (Range ignored): none of it is wanted.
    res.body.destroy()
    recordAccess(ctx, deps, t, res.status)
    return true
  }
  ctx.source = 'upstream'
  ctx.log.info('cached blob refused by upstream check', { status: res.status, digest: t.parsed.digest })
  await sendUpstream(ctx, res, responseHeaders(ctx, deps, t.upstream, res))
  return false
}
