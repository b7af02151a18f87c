// /token/<upstream>/<scheme>/<host>/<path>: relays a token request to a realm
// that a configured upstream announced (lib/registry/realms.ts). GET with the
// client's query, and POST with an OAuth2 form body (containerd and Docker
// post grant_type=password / refresh_token when they hold credentials).
import type { ProxyDeps, RequestContext } from '../context.js'
import { badGateway, denied, notFound, ProxyError, unsupported } from '../errors.js'
import { normaliseScope, parseTokenPath, rewriteChallenges, type TokenTarget } from '../registry/realms.js'
import { all, first } from '../stages/headers.js'
import { parseMemberId, type ChainMember } from '../upstream/chain.js'
import type { UpstreamRequest, UpstreamResponse } from '../upstream/types.js'
import { proxyOrigin, sendUpstream } from './upstream-response.js'

/** Upstreams asked recently for their realms, so /token/ cannot be used to hammer them. */
const discoveryInterval = 10_000
const lastDiscovery = new WeakMap<ProxyDeps, Map<string, number>>()

export async function handleToken(ctx: RequestContext, deps: ProxyDeps): Promise<void> {
  const { req } = ctx
  if (req.method !== 'GET' && req.method !== 'POST' && req.method !== 'HEAD') {
    throw unsupported(`${req.method} is not supported on the token endpoint`)
  }
  const target = parseTokenPath(ctx.rawPath)
  if (!target) throw notFound('no such token endpoint')
  // `<key>@<n>`: the realm a fallback of that entry announced.
  const { key, index } = parseMemberId(target.upstreamKey)
  const upstream = deps.upstreams.byKey.get(key)
  const member = upstream?.chain.members[index]
  if (!upstream || !member || member.id !== target.upstreamKey) throw denied('token realm was not announced by a configured registry')
  ctx.upstreamKey = upstream.key
  const realm = deps.realms.lookup(target) ?? (await discover(ctx, deps, target, member))
  if (!realm) {
    ctx.log.warn('token request for an unannounced realm refused', { upstream: upstream.key })
    throw denied('token realm was not announced by a configured registry')
  }

  const url = new URL(realm.href)
  for (const [k, v] of ctx.query) {
    url.searchParams.append(k, k === 'scope' && upstream.dockerHub ? normaliseScope(v) : v)
  }
  const headers: Record<string, string> = { 'x-request-id': ctx.id }
  for (const h of ['authorization', 'accept', 'user-agent', 'content-type']) {
    const v = req.headers[h]
    if (typeof v === 'string') headers[h] = v
  }
  // Fetched for the upstream that announced the realm: its egress rules,
  // not another map entry's (lib/upstream/egress.ts).
  const request: UpstreamRequest = {
    method: req.method === 'POST' ? 'POST' : 'GET',
    url,
    headers,
    signal: ctx.signal,
    upstream: member.url.origin,
    client: ctx.client,
  }
  if (req.method === 'POST') {
    let body = await readBody(ctx, deps.tokenBodyLimit)
    if (upstream.dockerHub && /x-www-form-urlencoded/i.test(headers['content-type'] ?? '')) {
      const form = new URLSearchParams(body.toString('utf8'))
      const scopes = form.getAll('scope')
      if (scopes.length) {
        form.delete('scope')
        for (const s of scopes) form.append('scope', normaliseScope(s))
        body = Buffer.from(form.toString())
      }
    }
    request.body = body
  }
  ctx.log.debug('token relay', { upstream: upstream.key, realm: `${realm.origin}${realm.pathname}`, method: request.method })
  const res = await deps.tokens.request({ ...request, log: ctx.log })
  ctx.source = 'upstream'
  const out: Record<string, string | string[]> = { 'cache-control': 'no-store' }
  for (const h of ['content-type', 'retry-after']) {
    const v = first(res.headers, h)
    if (v !== undefined) out[h] = v
  }
  // A token server answering 401 announces Basic auth; pass it on as is.
  const challenges = all(res.headers, 'www-authenticate')
  if (challenges.length) out['www-authenticate'] = challenges
  if (upstream.chain.members.length > 1 && res.status === 200) return sendRecordingOwner(ctx, deps, res, out, member.id)
  await sendUpstream(ctx, res, out)
}

/** A token response is a few KiB; more is not read for its owner. */
const TOKEN_BODY_LIMIT = 64 * 1024

/**
 * In a chain, the token is recorded as this member's (lib/upstream/
 * token-owners.ts) before the client has it, so it never goes to another
 * member. The body is passed on unchanged.
 */
async function sendRecordingOwner(ctx: RequestContext, deps: ProxyDeps, res: UpstreamResponse, headers: Record<string, string | string[]>, member: string): Promise<void> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of res.body as AsyncIterable<Buffer>) {
    size += c.length
    if (size > TOKEN_BODY_LIMIT) {
      res.body.destroy()
      throw badGateway(`token response larger than ${TOKEN_BODY_LIMIT} bytes`)
    }
    chunks.push(c)
  }
  const body = Buffer.concat(chunks)
  try {
    const doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>
    for (const k of ['token', 'access_token']) {
      const v = doc[k]
      if (typeof v === 'string' && v !== '') deps.failover.tokens.record(v, member)
    }
  } catch {
    // Not JSON: the client will make nothing of it either.
  }
  ctx.res.writeHead(200, { ...headers, 'content-length': body.length })
  ctx.res.end(ctx.head ? undefined : body)
}

/**
 * A realm this process has not seen announced may still be genuine (a
 * restart, another worker answered the /v2/ ping). Ask the named upstream
 * itself, at most once per interval, and trust only what it says.
 */
async function discover(ctx: RequestContext, deps: ProxyDeps, target: TokenTarget, member: ChainMember): Promise<URL | undefined> {
  let seen = lastDiscovery.get(deps)
  if (!seen) lastDiscovery.set(deps, (seen = new Map()))
  const now = Date.now()
  if (now - (seen.get(target.upstreamKey) ?? 0) < discoveryInterval) return undefined
  seen.set(target.upstreamKey, now)
  // That member alone: another member's challenge is not this one's.
  const url = new URL(member.base + '/v2/')
  try {
    const ping: UpstreamRequest = { method: 'GET', url, headers: {}, signal: ctx.signal, upstream: member.url.origin, client: ctx.client }
    const res = await deps.tokens.request({ ...ping, log: ctx.log })
    res.body.resume()
    rewriteChallenges(all(res.headers, 'www-authenticate'), member.id, proxyOrigin(ctx, deps), deps.realms)
  } catch (err) {
    ctx.log.debug('realm discovery failed', { upstream: member.id, error: (err as Error).message })
  }
  return deps.realms.lookup(target)
}

async function readBody(ctx: RequestContext, limit: number): Promise<Buffer> {
  const declared = Number(ctx.req.headers['content-length'] ?? 0)
  if (declared > limit) throw new ProxyError(413, 'SIZE_INVALID', `token request body larger than ${limit} bytes`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw new ProxyError(413, 'SIZE_INVALID', `token request body larger than ${limit} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
