// Sends an upstream response to the client: header stage, then the body
// through its stages, joined with pipeline() so an error or abort on either
// side tears both down.
import type { OutgoingHttpHeaders } from 'node:http'
import type { Transform, Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ProxyDeps, RequestContext } from '../context.js'
import { rewriteChallenges } from '../registry/realms.js'
import type { Upstream } from '../registry/upstreams.js'
import { all, clientResponseHeaders } from '../stages/headers.js'
import type { UpstreamResponse } from '../upstream/types.js'

/** The origin clients use to reach this proxy, for rewritten token realms. */
export function proxyOrigin(ctx: RequestContext, deps: ProxyDeps): string {
  const h = ctx.req.headers
  const pick = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)?.split(',')[0]?.trim()
  let scheme: string = deps.scheme
  let host = h.host ?? '127.0.0.1'
  if (deps.trustProxy) {
    const proto = pick(h['x-forwarded-proto'])
    const fwdHost = pick(h['x-forwarded-host'])
    if (proto === 'http' || proto === 'https') scheme = proto
    if (fwdHost && /^[A-Za-z0-9.\-:[\]]+$/.test(fwdHost)) host = fwdHost
  }
  return `${scheme}://${host}`
}

export function responseHeaders(
  ctx: RequestContext,
  deps: ProxyDeps,
  upstream: Upstream,
  res: UpstreamResponse,
): OutgoingHttpHeaders {
  const headers = clientResponseHeaders(res.headers)
  const challenges = all(res.headers, 'www-authenticate')
  if (challenges.length) {
    const rewritten = rewriteChallenges(challenges, upstream.key, proxyOrigin(ctx, deps), deps.realms)
    if (rewritten.length) headers['www-authenticate'] = rewritten
    ctx.log.debug('challenge rewritten', { upstream: upstream.key, challenges: rewritten.length })
  }
  headers['docker-distribution-api-version'] ??= 'registry/2.0'
  return headers
}

export async function sendUpstream(
  ctx: RequestContext,
  headers: OutgoingHttpHeaders,
  status: number,
  body: Readable,
  stages: Transform[] = [],
): Promise<void> {
  const { res } = ctx
  res.writeHead(status, headers)
  if (ctx.head || status === 204 || status === 304) {
    body.resume()
    res.end()
    return
  }
  await pipeline([body, ...stages, res])
}
