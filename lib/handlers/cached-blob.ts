// A blob request with a cache (lib/cache/blob-cache.ts), routed to one
// upstream:
//
//   hit for this upstream ─authorised─▶ served from disk (verified)
//   miss, one Range other than `bytes=0-` ─▶ cold-range.ts (lazy pulling)
//   miss ─claim─▶ writer:   one upstream GET, teed to the cache and the client
//             ├─▶ follower: streams the fill; no progress within
//             │             --follow-timeout ─▶ fetches on its own
//             └─▶ none:     uncached (a Range still cut from the verified whole)
import { once } from 'node:events'
import type { Readable } from 'node:stream'
import type { FillClaim, FillFollower } from '../cache/types.js'
import type { ProxyDeps, RequestContext } from '../context.js'
import { rangeNotSatisfiable, UpstreamError } from '../errors.js'
import { parseRange } from '../registry/range.js'
import { upstreamSource } from '../registry/upstreams.js'
import { isDigestMismatch } from '../integrity/integrity-error.js'
import { authorised, granted } from './blob-access.js'
import { fetchUncached, fill } from './blob-fill.js'
import { blobHeaders, guardProgress, partialHeaders, sendBlob, sendRange } from './blob-response.js'
import { coldRange, serveColdRange } from './cold-range.js'
import { proxy, type Target } from './pass-through.js'
import { NotCacheableError, StalledError } from '../cache/errors.js'

export async function serveBlobWithCache(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string): Promise<void> {
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
  if (ctx.head) return proxy(ctx, deps, t)
  // A Range its client wants at once (a lazy puller's footer, a chunk):
  // passed to the upstream, the cache filled in the background.
  const cold = coldRange(ctx.req.headers.range)
  if (cold && (await serveColdRange(ctx, deps, t, digest, cold))) return

  // A follower whose fill fails before its first byte has answered nothing:
  // the blob is a miss again, and this request claims it once more (as a
  // writer, most likely). Not proxy(): a `bytes=0-` passed through would not
  // be verified.
  for (let attempt = 1; ; attempt++) {
    const claim = await claimWithin(cache, digest, source, deps.followTimeout)
    if (claim === 'timeout') {
      ctx.log.info('the fill of this blob has not started: fetching on our own', { digest, after: deps.followTimeout })
      return fetchUncached(ctx, deps, t, digest)
    }
    // No fill to join (the cache cannot take it, or the one waited on was
    // dropped): uncached, but a Range still comes from the verified whole.
    if (!claim) return fetchUncached(ctx, deps, t, digest)
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
    f.body.destroy(new StalledError('the fill being followed made no progress'))
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
  return err instanceof NotCacheableError || (err as NodeJS.ErrnoException).code === 'ENOENT' || isDigestMismatch(err)
}
