// Operator credentials for upstream registries (`--auth-file`, read by
// auth-file.ts), as a Transport wrapper for /v2 requests.
//
//   request without Authorization, to a registry host in the auth file
//     ─▶ cached token for (host, scope) still fresh?  send with it
//     ─▶ else, challenge of that host already known?  fetch a token, send
//     ─▶ else send as is; on 401 read the challenge:
//          Bearer realm → GET realm?service&scope with Basic user:pass → token
//          Basic        → send Basic user:pass
//        and send once more. A second 401 goes back to the client as it is
//        (the v2 handler rewrites its challenge like any other).
//   request with Authorization (the client's own) ─▶ untouched
//
// Tokens are cached per host and repository scope until shortly before they
// expire (`expires_in`, 60 s when absent: distribution's token spec), one
// fetch at a time per key. The table is an LRU of MAX_TOKENS entries: clients
// choose the repository names, and a name pulled again after its token was
// pushed out costs one token fetch, not a failed pull. Neither tokens nor credentials reach a client:
// they live in request headers to the upstream only, and the response
// header allow-list (lib/stages/headers.ts) passes no credential back.
// It sits inside the redirect follower (lib/upstream/redirects.ts), so each
// hop gets credentials for its own host only; cross-origin hops (CDNs) also
// drop the Authorization the previous hop carried.
import { LRUCache } from 'lru-cache'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { bearerRealm, param, parseChallenges, type Challenge } from '../registry/challenge.js'
import { FollowRedirects } from '../upstream/redirects.js'
import type { Transport, UpstreamRequest, UpstreamResponse } from '../upstream/types.js'
import { registryKey, type Credential, type CredentialMap } from './auth-file.js'

/** `repository:<name>:pull` for /v2/<name>/…; '' for /v2/ itself. */
export function scopeFor(pathname: string): string {
  const m = /^\/v2\/(.+)\/(?:manifests|blobs|tags|referrers)\//.exec(pathname)
  return m ? `repository:${m[1]}:pull` : ''
}

type HostAuth = { kind: 'bearer'; realm: URL; service: string | undefined } | { kind: 'basic' }

export interface UpstreamCredentialsOptions {
  log: Logger
  metrics?: Metrics
  /** Largest token response read (a JWT is a few KiB). */
  tokenBodyLimit?: number
  now?: () => number
  /** Tokens kept (one per registry and repository); default MAX_TOKENS. */
  maxTokens?: number
}

const DEFAULT_EXPIRES_IN = 60
/** A token server may say "a year" (or 1e400, which parses as Infinity): refreshed daily regardless. */
const MAX_EXPIRES_IN = 24 * 3600
/** Tokens kept at most, and their bytes: a JWT is small, but the token server decides. */
export const MAX_TOKENS = 1000
const MAX_TOKEN_BYTES = 16 * 1024 * 1024

export class UpstreamCredentials implements Transport {
  private credentials: CredentialMap
  private readonly hosts = new Map<string, HostAuth>()
  /** `<host> <scope>` → token, each with a time to live ending shortly before the token expires. */
  private readonly tokens: LRUCache<string, string>
  private readonly inflight = new Map<string, Promise<string | undefined>>()
  private readonly log: Logger
  private readonly now: () => number
  private readonly limit: number
  private readonly fetches: ReturnType<Metrics['counter']> | undefined
  /** Token requests: redirects followed, credentials not applied again. */
  private readonly realms: Transport

  constructor(
    private readonly inner: Transport,
    credentials: CredentialMap,
    opts: UpstreamCredentialsOptions,
  ) {
    this.credentials = credentials
    this.realms = new FollowRedirects(inner)
    this.log = opts.log
    this.now = opts.now ?? Date.now
    this.limit = opts.tokenBodyLimit ?? 64 * 1024
    this.fetches = opts.metrics?.counter('crproxy_upstream_token_fetches_total', 'Tokens crproxy fetched with --auth-file credentials, by registry and result')
    const now = this.now
    this.tokens = new LRUCache<string, string>({
      max: opts.maxTokens ?? MAX_TOKENS,
      maxSize: MAX_TOKEN_BYTES,
      sizeCalculation: (value, key) => value.length + key.length,
      ttl: 1, // every set() gives the token's own
      perf: { now },
    })
    opts.metrics?.collected('crproxy_upstream_tokens', 'Tokens held for --auth-file credentials (an LRU, one per registry and repository)', () => {
      this.tokens.purgeStale()
      return this.tokens.size
    })
  }

  /** New credentials (SIGHUP): cached tokens were issued for the old ones. */
  setCredentials(credentials: CredentialMap): void {
    this.credentials = credentials
    this.tokens.clear()
    this.hosts.clear()
  }

  close(): void {
    this.inner.close()
  }

  setUpstreams(urls: string[]): void {
    this.inner.setUpstreams(urls)
  }

  get registries(): string[] {
    return [...this.credentials.keys()]
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    if (req.headers['authorization'] !== undefined) return this.inner.request(req)
    const host = registryKey(req.url.host)
    const cred = this.credentials.get(host)
    if (!cred) return this.inner.request(req)
    const scope = scopeFor(req.url.pathname)
    const known = this.hosts.get(host)
    let fresh = false
    let auth: string | undefined
    if (known?.kind === 'basic') auth = basic(cred)
    else if (known) {
      const cached = this.cachedToken(host, scope)
      if (cached) auth = `Bearer ${cached}`
      else {
        const token = await this.token(host, scope, known, scope ? [scope] : [], cred, req)
        if (token) auth = `Bearer ${token}`
        fresh = true
      }
    }
    const first = await this.inner.request(withAuthorization(req, auth))
    // A token fetched just now that is refused (or could not be fetched) will
    // not do better on a second try: the client gets the upstream's 401.
    if (first.status !== 401 || fresh) return first
    const learned = learn(first)
    if (!learned) return first
    this.hosts.set(host, learned.auth)
    this.tokens.delete(`${host} ${scope}`)
    let retryAuth: string | undefined
    if (learned.auth.kind === 'basic') retryAuth = basic(cred)
    else {
      const scopes = learned.scopes.length ? learned.scopes : scope ? [scope] : []
      const token = await this.token(host, scope, learned.auth, scopes, cred, req)
      if (token === undefined) return first
      retryAuth = `Bearer ${token}`
    }
    if (retryAuth === auth) return first
    first.body.resume()
    return this.inner.request(withAuthorization(req, retryAuth))
  }

  private cachedToken(host: string, scope: string): string | undefined {
    return this.tokens.get(`${host} ${scope}`)
  }

  /** One fetch at a time per (host, scope); undefined when the token server refused or failed. */
  private token(
    host: string,
    scope: string,
    auth: Extract<HostAuth, { kind: 'bearer' }>,
    scopes: string[],
    cred: Credential,
    req: UpstreamRequest,
  ): Promise<string | undefined> {
    const key = `${host} ${scope}`
    let p = this.inflight.get(key)
    if (!p) {
      p = this.fetchToken(host, key, auth, scopes, cred, req).finally(() => this.inflight.delete(key))
      this.inflight.set(key, p)
    }
    return p
  }

  private async fetchToken(
    host: string,
    key: string,
    auth: Extract<HostAuth, { kind: 'bearer' }>,
    scopes: string[],
    cred: Credential,
    req: UpstreamRequest,
  ): Promise<string | undefined> {
    const url = new URL(auth.realm.href)
    if (auth.service) url.searchParams.set('service', auth.service)
    for (const s of scopes) url.searchParams.append('scope', s)
    const headers: Record<string, string> = { authorization: basic(cred), accept: 'application/json' }
    const id = req.headers['x-request-id']
    if (id) headers['x-request-id'] = id
    try {
      // The realm is fetched under the egress rules of the upstream it was asked for.
      const res = await this.realms.request({ method: 'GET', url, headers, upstream: req.upstream, log: req.log ?? this.log })
      if (res.status !== 200) {
        res.body.resume()
        this.fetches?.inc({ registry: host, result: 'refused' })
        this.log.warn('upstream token request with --auth-file credentials refused', { registry: host, status: res.status })
        return undefined
      }
      const body = await readLimited(res, this.limit)
      const j = JSON.parse(body) as { token?: unknown; access_token?: unknown; expires_in?: unknown }
      const value = typeof j.token === 'string' && j.token ? j.token : typeof j.access_token === 'string' ? j.access_token : ''
      if (!value) throw new Error('no token in the response')
      const expiresIn = typeof j.expires_in === 'number' && j.expires_in > 0 ? Math.min(j.expires_in, MAX_EXPIRES_IN) : DEFAULT_EXPIRES_IN
      const lifetime = expiresIn * 1000
      // Refresh before expiry: the last 30 s (or half of a short lifetime)
      // would risk a token that expires on its way.
      this.tokens.set(key, value, { ttl: Math.max(1, Math.floor(lifetime - Math.min(30_000, lifetime / 2))) })
      this.fetches?.inc({ registry: host, result: 'ok' })
      this.log.debug('upstream token fetched', { registry: host, scope: key.slice(host.length + 1) || undefined, expires_in: lifetime / 1000 })
      return value
    } catch (err) {
      this.fetches?.inc({ registry: host, result: 'error' })
      this.log.warn('upstream token request with --auth-file credentials failed', { registry: host, error: (err as Error).message })
      return undefined
    }
  }
}

function basic(c: Credential): string {
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64')
}

function withAuthorization(req: UpstreamRequest, auth: string | undefined): UpstreamRequest {
  return auth === undefined ? req : { ...req, headers: { ...req.headers, authorization: auth } }
}

/** The first usable challenge of a 401: Bearer with an http(s) realm, or Basic. */
function learn(res: UpstreamResponse): { auth: HostAuth; scopes: string[] } | undefined {
  const v = res.headers['www-authenticate']
  const values = v === undefined ? [] : Array.isArray(v) ? v : [v]
  const challenges: Challenge[] = values.flatMap((x) => parseChallenges(x) ?? [])
  for (const ch of challenges) {
    const url = bearerRealm(ch)
    if (url) {
      const scopes = (param(ch, 'scope') ?? '').split(' ').filter(Boolean)
      return { auth: { kind: 'bearer', realm: url, service: param(ch, 'service') }, scopes }
    }
  }
  if (challenges.some((ch) => ch.scheme.toLowerCase() === 'basic')) return { auth: { kind: 'basic' }, scopes: [] }
  return undefined
}

async function readLimited(res: UpstreamResponse, limit: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of res.body as AsyncIterable<Buffer>) {
    size += c.length
    if (size > limit) {
      res.body.destroy()
      throw new Error(`token response larger than ${limit} bytes`)
    }
    chunks.push(c)
  }
  return Buffer.concat(chunks).toString('utf8')
}
