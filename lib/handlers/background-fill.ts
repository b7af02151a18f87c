// The whole blob behind a Range that was passed through (cold-range.ts),
// fetched into the cache so that the next requests for it are hits. It obeys
// the cache's rules like any fill: per upstream (its source id), one at a
// time per blob (a claim taken only when nobody fills it: BlobCache.claimFree),
// verified before it is committed, and only for a blob that fits under
// --cache-max-size. It is fetched with the credentials of the client whose
// Range the upstream has just answered with 206 (that proved they may read
// this blob), and is tied to no client: it outlives the request, bounded by
// --fill-timeout of upstream silence, and stops when the cache closes.
import type { ProxyDeps, RequestContext } from '../context.js'
import { upstreamSource } from '../registry/upstreams.js'
import type { UpstreamResponse } from '../upstream/types.js'
import { type Target, wholeBlob } from './pass-through.js'
import { contentLength } from './upstream-response.js'

/** Starts the fill unless the blob would not be cached; never throws, never waits. */
export function fillInBackground(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string, size: number): void {
  const cache = deps.cache
  if (!cache?.accepts(size)) {
    ctx.log.debug('no background fill: the cache would not keep this blob', { digest, size })
    return
  }
  run(ctx, deps, t, digest).catch((err: Error) =>
    ctx.log.info('background fill failed', { digest, error: err.message }),
  )
}

async function run(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string): Promise<void> {
  const claim = await deps.cache!.claimFree(digest, upstreamSource(t.upstream))
  if (!claim) return // filled already, or being filled (here or by another process)
  let res: UpstreamResponse
  try {
    res = await deps.registry.request({ ...wholeBlob(t, new AbortController().signal), log: ctx.log })
  } catch (err) {
    claim.abandon()
    throw err
  }
  if (res.status !== 200) {
    res.body.destroy()
    claim.abandon()
    ctx.log.info('background fill: the upstream did not send the blob', { digest, status: res.status })
    return
  }
  await claim.fillInBackground(res.body, contentLength(res))
}
