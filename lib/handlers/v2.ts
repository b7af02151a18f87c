// /v2/… : validate → route → policy → (blob cache) → upstream chain with
// redirects → stages → client. Manifests go to lib/handlers/manifest.ts (digest cache, tag
// revalidation by HEAD, offline fallback); blobs with a cache to
// cached-blob.ts (who may be served a hit: blob-access.ts); the rest passes
// through (pass-through.ts).
import type { ProxyDeps, RequestContext } from '../context.js'
import { handleManifest } from './manifest.js'
import { denied, digestInvalid, nameInvalid, notFound, ProxyError, unsupported } from '../errors.js'
import { decide } from '../policy/policy.js'
import { parseV2Path, v2PathFor } from '../registry/grammar.js'
import { upstreamName } from '../registry/route.js'
import { upstreamRequestHeaders } from '../stages/headers.js'
import type { UpstreamRequest } from '../upstream/types.js'
import { serveBlobWithCache } from './cached-blob.js'
import { proxy, type Target } from './pass-through.js'

export async function handleV2(ctx: RequestContext, deps: ProxyDeps): Promise<void> {
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
  if (name) ctx.repository = name
  if (deps.policy && parsed.kind !== 'base') {
    const tag = parsed.kind === 'manifests' && !parsed.byDigest ? parsed.reference : undefined
    const d = decide(deps.policy, { key: upstream.key, name, tag })
    if (d.action === 'deny') {
      deps.policyDenials.inc({ rule: d.rule })
      ctx.log.info('pull denied by policy', { rule: d.rule, upstream: upstream.key, repository: name, tag })
      throw denied(`pull of ${upstream.key}/${name}${tag ? ':' + tag : ''} denied by policy rule "${d.rule}"`, { rule: d.rule })
    }
  }
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
    // deps.registry tries the entry's members in turn (lib/upstream/failover.ts).
    chain: upstream.chain,
    client: ctx.client,
  }
  const target: Target = { upstream, parsed, name, request }

  if (parsed.kind === 'manifests') {
    return handleManifest(ctx, deps, { upstream, name, reference: parsed.reference, byDigest: parsed.byDigest, request })
  }
  if (parsed.kind === 'blobs' && deps.cache) return serveBlobWithCache(ctx, deps, target, parsed.digest)
  return proxy(ctx, deps, target)
}
