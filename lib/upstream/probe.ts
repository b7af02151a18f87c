// The background probe: each upstream out of rotation (health.ts) is asked
// `GET /v2/` once its backoff is over. 200 or 401 (a registry that wants a
// token is up) brings it back; anything else, or no answer within the probe
// timeout, doubles its backoff. The proxy's own request: no client
// credentials, no client share, an X-Request-Id `probe-<n>` for the
// upstream's logs.
import { UpstreamError } from '../errors.js'
import type { Logger } from '../log.js'
import type { HealthBoard, MemberHealth } from './health.js'
import { parseRetryAfter } from './rate-limit.js'
import type { UpstreamRequest, UpstreamResponse } from './types.js'

const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v)

interface Requester {
  request(req: UpstreamRequest): Promise<UpstreamResponse>
}

export interface ProbeOptions {
  /** ms between looks at the board. */
  tick: number
  /** ms a probe may take to its answer's headers. */
  timeout: number
}

export class HealthProbe {
  readonly #running = new Set<MemberHealth>()
  readonly #timer: NodeJS.Timeout
  readonly #controller = new AbortController()
  #sent = 0

  constructor(
    private readonly board: HealthBoard,
    private readonly transport: Requester,
    private readonly log: Logger,
    opts: ProbeOptions,
  ) {
    this.timeout = opts.timeout
    this.#timer = setInterval(() => this.tick(), opts.tick)
    this.#timer.unref()
  }

  private readonly timeout: number

  tick(now = Date.now()): void {
    for (const h of this.board.all()) {
      if (h.dueForProbe(now) && !this.#running.has(h)) void this.probe(h)
    }
  }

  async probe(h: MemberHealth): Promise<void> {
    this.#running.add(h)
    const url = new URL(h.url + '/v2/')
    const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.timeout)])
    try {
      const res = await this.transport.request({ method: 'GET', url, headers: { accept: 'application/json', 'x-request-id': `probe-${++this.#sent}` }, signal, upstream: url.origin })
      res.body.resume()
      if (res.status === 200 || res.status === 401) this.board.markHealthy(h, 'probe')
      else this.board.markFailed(h, `probe: HTTP ${res.status}`, (parseRetryAfter(first(res.headers['retry-after'])) ?? 0) * 1000)
    } catch (err) {
      if (this.#controller.signal.aborted) return
      // Said as the chain says it (`connect: …`, `timeout: …`).
      const kind = err instanceof UpstreamError ? `${err.kind}: ` : ''
      this.board.markFailed(h, `probe: ${kind}${(err as Error).message}`)
      this.log.debug('upstream probe failed', { upstream: h.url, error: (err as Error).message })
    } finally {
      this.#running.delete(h)
    }
  }

  close(): void {
    clearInterval(this.#timer)
    this.#controller.abort()
  }
}
