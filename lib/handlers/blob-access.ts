// Who may be served a cached blob, asked the way a pull would ask: the
// grants (lib/auth/grants.ts), or else the upstream itself, with the
// client's credentials, for the blob's first byte.
import type { ProxyDeps, RequestContext } from '../context.js'
import { recordTargetAccess, type Target, wholeBlob } from './pass-through.js'
import { responseHeaders, sendUpstream } from './upstream-response.js'

/** Do the grants already say this client may read this blob from this repository? */
export function granted(ctx: RequestContext, deps: ProxyDeps, t: Target): boolean {
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
export async function authorised(ctx: RequestContext, deps: ProxyDeps, t: Target): Promise<boolean> {
  if (t.parsed.kind !== 'blobs') return false
  if (granted(ctx, deps, t)) return true
  const probe = wholeBlob(t, ctx.signal)
  probe.headers = { ...probe.headers, range: 'bytes=0-0' }
  const res = await deps.registry.request({ ...probe, log: ctx.log })
  if (res.status === 200 || res.status === 206) {
    // A 200 may be the whole blob (Range ignored): none of it is wanted.
    res.body.destroy()
    recordTargetAccess(ctx, deps, t, res.status)
    return true
  }
  ctx.source = 'upstream'
  ctx.log.info('cached blob refused by upstream check', { status: res.status, digest: t.parsed.digest })
  await sendUpstream(ctx, res, responseHeaders(ctx, deps, t.upstream, res))
  return false
}
