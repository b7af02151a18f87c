// The upstream's whole blob, for a request on a miss: teed into the cache
// by the writer of a fill (verified, then committed), or fetched for this
// request alone, verified and uncached. Either way a Range is cut from the
// verified whole (sendRange): the client's last byte waits for the digest.
import { pipeline } from 'node:stream/promises'
import type { FillClaim } from '../cache/types.js'
import type { ProxyDeps, RequestContext } from '../context.js'
import { VerifyDigest } from '../integrity/verify-digest.js'
import { parseRange } from '../registry/range.js'
import type { UpstreamResponse } from '../upstream/types.js'
import { sendBlob, sendRange } from './blob-response.js'
import { proxy, recordTargetAccess, type Target, throwStorageRefusal, wholeBlob } from './pass-through.js'
import { contentLength, responseHeaders, sendUpstream } from './upstream-response.js'

/** The writer of a miss: one upstream GET, teed to the cache and the client. */
export async function fill(ctx: RequestContext, deps: ProxyDeps, t: Target, claim: FillClaim, digest: string): Promise<void> {
  // The fill may outlive this client (others may be waiting on it), so its
  // upstream request must not die with the client's signal.
  const controller = new AbortController()
  let res: UpstreamResponse
  try {
    res = await deps.registry.request({ ...wholeBlob(t, controller.signal), log: ctx.log })
  } catch (err) {
    claim.abandon()
    throw err
  }
  recordTargetAccess(ctx, deps, t, res.status)
  return teeToClient(ctx, deps, t, claim, digest, res)
}

/**
 * The writer's upstream answer: a 200 is teed into the cache and to the
 * client; anything else abandons the claim and goes to the client as the
 * upstream sent it. `res` must not be tied to the client's signal.
 */
export async function teeToClient(
  ctx: RequestContext,
  deps: ProxyDeps,
  t: Target,
  claim: FillClaim,
  digest: string,
  res: UpstreamResponse,
): Promise<void> {
  if (res.status !== 200) {
    claim.abandon()
    ctx.source = 'upstream'
    throwStorageRefusal(ctx, t, res)
    return sendUpstream(ctx, res, responseHeaders(ctx, deps, t.upstream, res))
  }
  ctx.source = 'fill'
  const size = contentLength(res)
  const out = responseHeaders(ctx, deps, t.upstream, res)
  out['docker-content-digest'] = digest
  // The fill fails unless exactly this many bytes arrive (lib/cache/fill.ts).
  if (size !== undefined) out['content-length'] = String(size)
  const ranged = ctx.req.headers.range !== undefined
  // sendBlob hands each chunk back once written: the fill may reuse its memory.
  const body = claim.fill(res.body, size, wantsTail(ctx, size), !ranged)
  if (claim.uncached !== undefined) ctx.source = 'upstream'
  if (ranged) return sendRange(ctx, out, body, size)
  ctx.res.writeHead(200, out)
  await sendBlob(body, ctx.res)
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

/**
 * A blob fetched for this request alone, verified on its way, not cached
 * (no fill to join, or one that makes no progress): the plain pass-through,
 * except that a Range is cut from the verified whole, as on a miss.
 */
export async function fetchUncached(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string): Promise<void> {
  if (ctx.req.headers.range === undefined) return proxy(ctx, deps, t)
  const res = await deps.registry.request({ ...wholeBlob(t, ctx.signal), log: ctx.log })
  ctx.source = 'upstream'
  recordTargetAccess(ctx, deps, t, res.status)
  throwStorageRefusal(ctx, t, res)
  const out = responseHeaders(ctx, deps, t.upstream, res)
  if (res.status !== 200) return sendUpstream(ctx, res, out)
  out['docker-content-digest'] = digest
  const size = contentLength(res)
  // VerifyDigest fails unless exactly this many bytes arrive.
  if (size !== undefined) out['content-length'] = String(size)
  const verify = new VerifyDigest({ digest, size, hasher: deps.hashing.create(size) })
  pipeline(res.body, verify).catch(() => {}) // errors surface on `verify`
  return sendRange(ctx, out, verify, size)
}
