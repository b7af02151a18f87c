// The offline fallback (--stale-if-error, in the spirit of RFC 5861): when the
// upstream cannot answer a request by tag — unreachable, timed out, 429 or
// 5xx — the digest it last named for this tag and this Accept is served from
// the cache, if that was within the window, with `Warning: 110 - "Response is
// Stale"` (RFC 7234 §5.5.1). The usual access rule still holds: only to a
// credential the upstream accepted for this repository within --grant-ttl.
import { ProxyError, UpstreamError } from '../errors.js'
import type { Flow, TagRef } from './manifest-flow.js'
import type { ManifestCache } from '../manifests/manifest-cache.js'
import { accepts } from '../manifests/media-types.js'
import { serveCached } from './manifest-from-cache.js'

export const STALE_WARNING = '110 - "Response is Stale"'

/** Is this thrown error the upstream failing (rather than us, or the client leaving)? */
export function isUpstreamFailure(f: Flow, err: unknown): boolean {
  if (f.ctx.signal.aborted) return false
  return err instanceof UpstreamError || (err instanceof ProxyError && err.status >= 500)
}

/** Serves the tag's last known manifest if the fallback allows it; false when it does not. */
export async function serveStale(f: Flow, cache: ManifestCache, tag: TagRef, reason: string): Promise<boolean> {
  const { ctx, deps, t } = f
  if (cache.staleIfError <= 0 || ctx.signal.aborted) return false
  const record = await cache.tag(t.upstream.key, t.name, tag.tag, tag.acceptKey)
  if (!record) return false
  const age = Date.now() - record.resolvedAt
  const fields = { upstream: t.upstream.key, repository: t.name, tag: tag.tag, digest: record.digest, age_s: Math.round(age / 1000), reason }
  if (age > cache.staleIfError) {
    ctx.log.info('upstream failed; last resolution of the tag is older than --stale-if-error', fields)
    return false
  }
  if (!accepts(f.accept, record.mediaType)) return false
  if (!deps.grants.mayServe(t.upstream.key, t.name, record.digest, ctx.req.headers.authorization)) {
    ctx.log.info('upstream failed; stale manifest not served: credential not known to be accepted', fields)
    return false
  }
  const m = await cache.get(t.upstream.key, t.name, record.digest)
  if (!m || m.mediaType !== record.mediaType) return false
  f.metrics.stale()
  ctx.log.warn('upstream failed: serving stale manifest', fields)
  serveCached(ctx, m, 'stale', { warning: STALE_WARNING })
  return true
}

export function failureReason(err: unknown): string {
  if (err instanceof UpstreamError) return `upstream ${err.kind}: ${err.message}`
  return err instanceof Error ? err.message : String(err)
}
