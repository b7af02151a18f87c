// What an upstream answer proves about access (lib/auth/grants.ts), for
// blobs and manifests alike: a 2xx or 304 accepted this credential for this
// repository, and the digest the answer was for is linked to it. Which
// answers count (a blob HEAD does not, see pass-through.ts) is the caller's.
import type { ProxyDeps, RequestContext } from '../context.js'
import type { Upstream } from '../registry/upstreams.js'

export function recordAccess(
  ctx: RequestContext,
  deps: ProxyDeps,
  where: { upstream: Upstream; name: string },
  status: number,
  digest: string | undefined,
): void {
  if (!((status >= 200 && status < 300) || status === 304)) return
  deps.grants.recordAccepted(where.upstream.key, where.name, ctx.req.headers.authorization)
  if (digest) deps.grants.recordBlob(where.upstream.key, where.name, digest)
}
