// A registry client for the pull side, talking to one crproxy the way a
// runtime does: GET /v2/… (with ?ns= when the reference names a registry),
// and on 401 the Bearer token dance through the realm the proxy announced
// (its own /token/…), or Basic. One token per (ns, repository), reused.
//
// Credentials go only to the proxy's own origin: a realm elsewhere is
// refused rather than handed the user's password (the proxy rewrites every
// realm to itself, so another one means something is wrong in between).
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { bearerRealm, param, parseChallenges, type Challenge } from '../../registry/challenge.js'

export interface Credentials {
  username: string
  password: string
}

export interface RegistryClientOptions {
  proxy: URL
  /** Connections to the proxy at most (one per blob in flight, plus one). */
  maxSockets: number
  /** No byte for this long (connecting, headers or body): the request fails. */
  idleTimeout: number
}

export class PrefetchError extends Error {
  override name = 'PrefetchError'
}

/** The largest token response or error body read (a JWT is a few KiB). */
const SMALL_BODY = 64 * 1024

export async function readSmallBody(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of res as AsyncIterable<Buffer>) {
    size += c.length
    if (size > limit) {
      res.destroy()
      throw new PrefetchError(`response larger than ${limit} bytes`)
    }
    chunks.push(c)
  }
  return Buffer.concat(chunks)
}

/** The registry error of a response body, for messages: `UNAUTHORIZED: authentication required`. */
export async function errorText(res: IncomingMessage): Promise<string> {
  let detail = ''
  try {
    const j = JSON.parse((await readSmallBody(res, SMALL_BODY)).toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> }
    const e = j.errors?.[0]
    if (e) detail = `: ${e.code ?? ''}${e.message ? ` ${e.message}` : ''}`
  } catch {
    res.destroy()
  }
  return `HTTP ${res.statusCode}${detail}`
}

export class RegistryClient {
  readonly #opts: RegistryClientOptions
  readonly #agent: HttpAgent
  /** `<ns> <repo>` → the Authorization header that worked. */
  readonly #auth = new Map<string, string>()

  constructor(opts: RegistryClientOptions) {
    this.#opts = opts
    const agentOpts = { keepAlive: true, maxSockets: opts.maxSockets }
    this.#agent = opts.proxy.protocol === 'https:' ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts)
  }

  close(): void {
    this.#agent.destroy()
  }

  /**
   * GET (or HEAD) /v2/<repo>/<rest> on the proxy, authenticating on a 401
   * once. The caller reads or destroys the body of what it gets back.
   */
  async get(repo: string, rest: string, o: { ns: string | null; accept?: string; creds?: Credentials }): Promise<IncomingMessage> {
    const url = new URL(`/v2/${repo}/${rest}`, this.#opts.proxy)
    if (o.ns) url.searchParams.set('ns', o.ns)
    const key = `${o.ns ?? ''} ${repo}`
    const headers: Record<string, string> = {}
    if (o.accept) headers['accept'] = o.accept
    const known = this.#auth.get(key)
    const res = await this.#send(url, known ? { ...headers, authorization: known } : headers)
    if (res.statusCode !== 401) return res
    const challenges = parseChallenges(String(res.headers['www-authenticate'] ?? '')) ?? []
    res.resume()
    const auth = await this.#authenticate(challenges, repo, o.creds)
    if (!auth) return this.#send(url, headers) // answered 401 again, with its error body
    this.#auth.set(key, auth)
    return this.#send(url, { ...headers, authorization: auth })
  }

  async #authenticate(challenges: Challenge[], repo: string, creds: Credentials | undefined): Promise<string | null> {
    const basic = creds && `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
    for (const ch of challenges) {
      const realm = bearerRealm(ch)
      if (!realm) continue
      if (creds && realm.origin !== this.#opts.proxy.origin) {
        throw new PrefetchError(`token realm ${realm.origin} is not the proxy's (${this.#opts.proxy.origin}): credentials not sent there`)
      }
      const service = param(ch, 'service')
      if (service !== undefined) realm.searchParams.set('service', service)
      realm.searchParams.set('scope', param(ch, 'scope') ?? `repository:${repo}:pull`)
      const res = await this.#send(realm, basic ? { authorization: basic } : {})
      if (res.statusCode !== 200) throw new PrefetchError(`token request refused: ${await errorText(res)}`)
      const body = (await readSmallBody(res, SMALL_BODY)).toString('utf8')
      let token: unknown
      try {
        const j = JSON.parse(body) as { token?: unknown; access_token?: unknown }
        token = j.token ?? j.access_token
      } catch {
        // handled below
      }
      if (typeof token !== 'string' || token === '') throw new PrefetchError('token response holds no token')
      return `Bearer ${token}`
    }
    if (basic && challenges.some((c) => c.scheme.toLowerCase() === 'basic')) return basic
    return null
  }

  #send(url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    const agent = url.origin === this.#opts.proxy.origin ? this.#agent : undefined
    return new Promise((resolve, reject) => {
      const req = send(url, { method: 'GET', headers: { 'user-agent': 'crproxy-prefetch', ...headers }, agent }, (res) => {
        res.setTimeout(this.#opts.idleTimeout, () => res.destroy(new PrefetchError(`no data for ${this.#opts.idleTimeout / 1000}s`)))
        resolve(res)
      })
      req.setTimeout(this.#opts.idleTimeout, () => req.destroy(new PrefetchError(`no answer from ${url.origin} within ${this.#opts.idleTimeout / 1000}s`)))
      req.once('error', (err) => reject(err))
      req.end()
    })
  }
}
