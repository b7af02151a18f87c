// GET/HEAD /v2/<name>/manifests/<reference>. Without a cache (no --cache-dir)
// every request is forwarded as it came. With one:
//
//   by digest ─ cached, type accepted by Accept ─┬ grant known ───────────▶ cache
//             │                                  └ HEAD upstream ─200─────▶ cache
//             │                                                 └other──┐
//             └ otherwise ──────────────────────────────────────────────┴▶ upstream
//                                                (verify, store if ≤ 4 MiB)
//   GET by tag ─▶ HEAD upstream (client's Accept + Authorization)
//             ├ 200, digest + type cached and accepted ───────────────────▶ cache
//             ├ failed (unreachable, timeout, 429, 5xx) ─ stale allowed ──▶ cache + Warning
//             └ anything else ─▶ GET upstream ─ failed, stale allowed ────▶ cache + Warning
//                                             └ otherwise ───────────────▶ client (store ≤ 4 MiB)
//   HEAD by tag ─▶ HEAD upstream ─ failed, stale allowed ────────────────▶ cache + Warning
//                               └ otherwise ─────────────────────────────▶ client
//
// HEADs do not count against Docker Hub's pull quota; a repeated GET by tag
// costs one upstream HEAD and no GET. Who may be served a cached manifest:
// the same rule as for blobs (lib/auth/grants.ts); a HEAD or GET by tag asks
// the upstream with the client's own credential anyway.
import type { ProxyDeps, RequestContext } from '../context.js'
import { clientResponseHeaders, first } from '../stages/headers.js'
import type { UpstreamResponse } from '../upstream/types.js'
import {
  type Flow,
  type ManifestTarget,
  isUpstreamFailureStatus,
  recordManifestAccess,
  requestUpstream,
  sendFromUpstream,
  type TagRef,
} from './manifest-flow.js'
import type { ManifestCache } from '../manifests/manifest-cache.js'
import { manifestMetrics } from '../manifests/manifest-metrics.js'
import { acceptKey, accepts, essence, parseAccept } from '../manifests/media-types.js'
import { serveCached } from './manifest-from-cache.js'
import { failureReason, isUpstreamFailure, serveStale } from './manifest-stale.js'

export type { ManifestTarget } from './manifest-flow.js'

export async function handleManifest(ctx: RequestContext, deps: ProxyDeps, t: ManifestTarget): Promise<void> {
  const f: Flow = { ctx, deps, t, metrics: manifestMetrics(deps.metrics), accept: parseAccept(ctx.req.headers.accept) }
  const cache = deps.manifests
  if (!cache) return sendFromUpstream(f, await requestUpstream(f, ctx.head ? 'HEAD' : 'GET'), undefined)
  if (t.byDigest) return byDigest(f, cache)
  const tag: TagRef = { tag: t.reference, acceptKey: acceptKey(f.accept) }
  return ctx.head ? headByTag(f, cache, tag) : getByTag(f, cache, tag)
}

async function byDigest(f: Flow, cache: ManifestCache): Promise<void> {
  const { ctx, t } = f
  const m = await cache.get(t.upstream.key, t.name, t.reference)
  if (m && accepts(f.accept, m.mediaType)) {
    const allowed = await mayServe(f, m.digest)
    if (allowed === true) {
      f.metrics.hit('digest')
      return serveCached(ctx, m, 'cache')
    }
    f.metrics.miss('digest')
    // Refused (or the upstream failed): the upstream's own answer goes back.
    if (ctx.head) return sendFromUpstream(f, allowed, cache)
    allowed.body.resume()
  } else {
    f.metrics.miss('digest')
  }
  return sendFromUpstream(f, await requestUpstream(f, ctx.head ? 'HEAD' : 'GET'), cache)
}

/**
 * May this client be served this repository's cached manifest? Yes if the
 * grants say so; otherwise a HEAD with its credential decides, and a non-200
 * answer is returned (body unread) for the caller to pass on.
 */
async function mayServe(f: Flow, digest: string): Promise<true | UpstreamResponse> {
  const { deps, t, ctx } = f
  if (deps.grants.mayServe(t.upstream.key, t.name, digest, ctx.req.headers.authorization)) return true
  const res = await requestUpstream(f, 'HEAD')
  if (res.status !== 200) return res
  res.body.resume()
  recordManifestAccess(f, res)
  return true
}

async function getByTag(f: Flow, cache: ManifestCache, tag: TagRef): Promise<void> {
  const { t } = f
  // Without Accept there is nothing to negotiate from the cache: plain GET.
  if (!f.accept) return getTagUpstream(f, cache, tag)
  let head: UpstreamResponse
  try {
    head = await requestUpstream(f, 'HEAD')
  } catch (err) {
    if (!isUpstreamFailure(f, err)) throw err
    f.metrics.revalidation('failed')
    if (await serveStale(f, cache, tag, failureReason(err))) return
    throw err
  }
  head.body.resume()
  if (isUpstreamFailureStatus(head.status)) {
    f.metrics.revalidation('failed')
    if (await serveStale(f, cache, tag, `upstream answered ${head.status}`)) return
    // No fallback: the GET below brings the upstream's error with its body.
    return getTagUpstream(f, cache, tag, false)
  } else if (head.status !== 200) {
    f.metrics.revalidation('refused')
  } else {
    recordManifestAccess(f, head)
    const digest = first(head.headers, 'docker-content-digest')?.trim()
    const mediaType = essence(first(head.headers, 'content-type'))
    if (!digest || !mediaType) {
      f.metrics.revalidation('no_digest')
    } else {
      const m = accepts(f.accept, mediaType) ? await cache.get(t.upstream.key, t.name, digest) : undefined
      if (m && m.mediaType === mediaType) {
        f.metrics.revalidation('hit')
        f.metrics.hit('tag')
        void cache.recordTag(t.upstream.key, t.name, tag.tag, tag.acceptKey, { digest, mediaType })
        return serveCached(f.ctx, m, 'cache', clientResponseHeaders(head.headers))
      }
      f.metrics.revalidation('miss')
      f.metrics.miss('tag')
    }
  }
  return getTagUpstream(f, cache, tag)
}

/** GET upstream; `stale` false when the fallback was already tried for this request. */
async function getTagUpstream(f: Flow, cache: ManifestCache, tag: TagRef, stale = true): Promise<void> {
  let res: UpstreamResponse
  try {
    res = await requestUpstream(f, 'GET')
  } catch (err) {
    if (stale && isUpstreamFailure(f, err) && (await serveStale(f, cache, tag, failureReason(err)))) return
    throw err
  }
  if (stale && isUpstreamFailureStatus(res.status) && (await serveStale(f, cache, tag, `upstream answered ${res.status}`))) {
    res.body.resume()
    return
  }
  return sendFromUpstream(f, res, cache, tag)
}

async function headByTag(f: Flow, cache: ManifestCache, tag: TagRef): Promise<void> {
  const { t } = f
  let res: UpstreamResponse
  try {
    res = await requestUpstream(f, 'HEAD')
  } catch (err) {
    if (isUpstreamFailure(f, err) && (await serveStale(f, cache, tag, failureReason(err)))) return
    throw err
  }
  if (isUpstreamFailureStatus(res.status) && (await serveStale(f, cache, tag, `upstream answered ${res.status}`))) {
    res.body.resume()
    return
  }
  if (res.status === 200) {
    const digest = first(res.headers, 'docker-content-digest')?.trim()
    const mediaType = essence(first(res.headers, 'content-type'))
    if (digest && mediaType) void cache.recordTag(t.upstream.key, t.name, tag.tag, tag.acceptKey, { digest, mediaType })
  }
  return sendFromUpstream(f, res, cache)
}
