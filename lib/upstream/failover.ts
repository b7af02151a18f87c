// A map entry's chain of upstreams, as the outermost Transport of
// deps.registry (lib/proxy.ts builds it once). A /v2 request names its
// entry's chain and is aimed at the primary; each member gets it with its own
// base URL, in order of health (lib/upstream/health.ts):
//
//   healthy members in map order, then the unhealthy ones (last resort)
//     ─▶ connect failure, timeout, reset, 5xx or 429 ─▶ member marked, next one
//     ─▶ any other answer (404 and 401 included) is the answer
//
// Redirects (a CDN) are followed per member, so a CDN failure moves on too.
// Only GET and HEAD reach a chain and nothing has been sent to the client
// when this returns, so asking the next member is always safe; a body that
// fails later is not retried (the client has bytes by then).
//
// Credentials: a token one member's realm issued goes to that member only
// (lib/upstream/token-owners.ts); any other client credential (Basic, or a
// token this process does not know) goes to the primary only. The answer
// carries the member's id, so the challenge a client sees names that
// member's realm, and its next token is that member's.
import type { IncomingHttpHeaders } from 'node:http'
import { UpstreamError } from '../errors.js'
import type { Metrics } from '../metrics.js'
import type { Chain, ChainMember } from './chain.js'
import type { HealthBoard } from './health.js'
import { parseRateLimit } from './rate-limit.js'
import { spentFor, type RateLimitWatch } from './rate-limit-watch.js'
import type { TokenOwners } from './token-owners.js'
import type { Transport, UpstreamRequest, UpstreamResponse } from './types.js'

export interface FailoverDeps {
  board: HealthBoard
  tokens: TokenOwners
  rateLimits: RateLimitWatch
  failovers: ReturnType<Metrics['counter']>
}

export function failoverCounter(metrics: Metrics): ReturnType<Metrics['counter']> {
  return metrics.counter('crproxy_upstream_failovers_total', 'Requests moved on to the next upstream of a chain, by map entry, member left and reason')
}

/** Failures that say the member, not the request, is at fault. Our own limits (overload) and the egress policy are not. */
const memberFaults = new Set(['connect', 'timeout', 'reset', 'protocol', 'tls', 'proxy'])

export class ChainTransport implements Transport {
  /** `inner` follows redirects, so a member's CDN hop fails over with it. */
  constructor(
    private readonly inner: Transport,
    private readonly d: FailoverDeps,
  ) {}

  close(): void {
    this.inner.close()
  }

  setUpstreams(urls: string[]): void {
    this.inner.setUpstreams(urls)
  }

  async request(req: UpstreamRequest): Promise<UpstreamResponse> {
    const { chain, ...plain } = req
    if (!chain) return this.inner.request(req)
    const primary = chain.members[0]!
    // Not aimed at this entry's primary: as is.
    if (req.upstream !== primary.url.origin || !req.url.href.startsWith(primary.base + '/')) return this.inner.request(plain)
    const rest = req.url.href.slice(primary.base.length)
    const multi = chain.members.length > 1
    const members = chain.members
    const order = [...members.filter((m) => m.health.available()), ...members.filter((m) => !m.health.available())]
    for (let i = 0; i < order.length; i++) {
      const m = order[i]!
      const next = order[i + 1]
      let res: UpstreamResponse
      try {
        res = await this.inner.request(this.memberRequest(plain, m, rest, multi))
      } catch (err) {
        if (!multi || req.signal?.aborted || !(err instanceof UpstreamError) || !memberFaults.has(err.kind)) throw err
        this.failed(chain, req, m, `${err.kind}: ${err.message}`, 0, next)
        if (!next) throw err
        continue
      }
      res.member = m.id
      const rl = parseRateLimit(res.headers as IncomingHttpHeaders)
      this.d.rateLimits.observe(chain.key, m.base, res.status, rl)
      if (!multi) return res
      if (res.status >= 500 || res.status === 429) {
        this.failed(chain, req, m, `HTTP ${res.status}`, (rl?.retryAfterSeconds ?? 0) * 1000, next)
        if (!next) return res
        res.body.destroy()
        continue
      }
      const spent = spentFor(rl, this.d.board.backoff.max)
      // Still answered: this request is served, later ones go to the next member.
      if (spent !== undefined) this.d.board.markFailed(m.health, 'rate limit spent (remaining 0)', spent)
      else if (!m.health.healthy) this.d.board.markHealthy(m.health, 'request')
      return res
    }
    /* c8 ignore next */
    throw new Error('a chain has at least one member')
  }

  private failed(chain: Chain, req: UpstreamRequest, m: ChainMember, reason: string, notBeforeMs: number, next: ChainMember | undefined): void {
    this.d.board.markFailed(m.health, reason, notBeforeMs)
    if (!next) return
    this.d.failovers.inc({ upstream: chain.key, from: m.base, reason: reason.split(':')[0]! })
    req.log?.warn('upstream failed: trying the next of its chain', { upstream: chain.key, failed: m.base, next: next.base, reason })
  }

  private memberRequest(req: UpstreamRequest, m: ChainMember, rest: string, multi: boolean): UpstreamRequest {
    const headers = { ...req.headers }
    const auth = headers['authorization']
    if (multi && auth !== undefined) {
      const owner = this.d.tokens.ownerOf(auth)
      if (owner === undefined ? m.index !== 0 : owner !== m.id) delete headers['authorization']
    }
    return { ...req, url: new URL(m.base + rest), upstream: m.url.origin, headers }
  }
}
