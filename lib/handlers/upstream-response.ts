// Sends an upstream response to the client: header stage, then the body
// through its stages, joined with pipeline() so an error or abort on either
// side tears both down. The framing is the proxy's own: Content-Length is
// stated from what the upstream client parsed, never copied from a header.
//
//   upstream body ─▶ VerifyDigest (digest the path named) ─▶ copy (manifest
//   capture) ─▶ ExactLength ─▶ client
//
// bodyStages() below is the one place that order is written.
import type { OutgoingHttpHeaders } from 'node:http'
import type { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { ProxyDeps, RequestContext } from '../context.js'
import type { HashWorkerPool } from '../integrity/hash-worker.js'
import { VerifyDigest } from '../integrity/verify-digest.js'
import { rewriteChallenges } from '../registry/realms.js'
import type { Upstream } from '../registry/upstreams.js'
import { ExactLength } from '../stages/exact-length.js'
import { all, clientResponseHeaders, first } from '../stages/headers.js'
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
    // A fallback's challenge names the fallback: its realm, its tokens.
    const rewritten = rewriteChallenges(challenges, res.member ?? upstream.key, proxyOrigin(ctx, deps), deps.realms)
    if (rewritten.length) headers['www-authenticate'] = rewritten
    ctx.log.debug('challenge rewritten', { upstream: upstream.key, challenges: rewritten.length })
  }
  headers['docker-distribution-api-version'] ??= 'registry/2.0'
  return headers
}

/**
 * The body's length as the upstream framed it. The upstream client refuses
 * any Content-Length that is not one plain number, and one beside
 * Transfer-Encoding (lib/upstream/response-framing.ts), so for a body this is
 * exactly how many bytes it delivers. For a HEAD it is the length a GET would
 * get (RFC 9110 §8.6).
 */
export function contentLength(res: UpstreamResponse): number | undefined {
  const s = first(res.headers, 'content-length')
  return s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined
}

export interface BodyStages {
  /** The digest the request's path named: the body must be those bytes. */
  verify?: { digest: string; hashing?: HashWorkerPool | undefined }
  /** Sees the body once verified (the manifest cache's capture). */
  copy?: Transform
}

/**
 * Stages must pass on as many bytes as they take (they verify, hold back
 * or copy): the Content-Length sent is the upstream's, and ExactLength cuts
 * the connection rather than let a body disagree with it.
 */
export function bodyStages(length: number | undefined, s: BodyStages): Transform[] {
  const stages: Transform[] = []
  if (s.verify) {
    const { digest, hashing } = s.verify
    stages.push(new VerifyDigest({ digest, size: length, hasher: hashing?.create(length) }))
  }
  if (s.copy) stages.push(s.copy)
  if (length !== undefined) stages.push(new ExactLength(length))
  return stages
}

/** Stages are built only for a body that is sent (not for HEAD, 204 or 304). */
export async function sendUpstream(
  ctx: RequestContext,
  upstream: UpstreamResponse,
  headers: OutgoingHttpHeaders,
  stages: BodyStages = {},
): Promise<void> {
  const { res } = ctx
  const { status, body } = upstream
  const length = contentLength(upstream)
  // None on 204 (RFC 9110 §8.6); on 304 it would describe a body that is not there.
  const noBody = status === 204 || status === 304
  if (length === undefined || noBody) delete headers['content-length']
  else headers['content-length'] = String(length)
  res.writeHead(status, headers)
  if (ctx.head || noBody) {
    body.resume()
    res.end()
    return
  }
  await pipeline([body, ...bodyStages(length, stages), res])
}
