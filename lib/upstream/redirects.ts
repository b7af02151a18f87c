// Follows upstream redirects server-side (301/302/303/307/308) so the client
// never sees a CDN URL. Mirrors undici's redirect handler: Authorization and
// Cookie are dropped whenever the origin changes (a presigned CDN URL would
// otherwise receive the registry token), relative Locations resolve against
// the URL that sent them, and only http(s) targets are followed.
//
// It is the outermost Transport of the chain lib/proxy.ts builds
// (client → timing → credentials → redirects), so each hop goes through
// the inner ones: timed per host, and given --auth-file credentials for its
// own host (none for a CDN).
import { badGateway } from '../errors.js'
import { redactUrl } from '../log.js'
import type { Transport, UpstreamRequest, UpstreamResponse } from './types.js'

const redirectStatuses = new Set([301, 302, 303, 307, 308])
const crossOriginUnsafe = ['authorization', 'cookie', 'proxy-authorization']
export const MAX_REDIRECTS = 10

export class FollowRedirects implements Transport {
  constructor(
    readonly inner: Transport,
    private readonly maxRedirects = MAX_REDIRECTS,
  ) {}

  close(): void {
    this.inner.close()
  }

  setUpstreams(urls: string[]): void {
    this.inner.setUpstreams(urls)
  }

  request(req: UpstreamRequest): Promise<UpstreamResponse> {
    return follow(this.inner, req, this.maxRedirects)
  }
}

async function follow(transport: Transport, first: UpstreamRequest, maxRedirects: number): Promise<UpstreamResponse> {
  let req = first
  for (let hop = 0; ; hop++) {
    const started = Date.now()
    const res = await transport.request(req)
    req.log?.debug('upstream request', { method: req.method, url: redactUrl(req.url), status: res.status, ms: Date.now() - started })
    const location = res.headers['location']
    if (!redirectStatuses.has(res.status) || typeof location !== 'string' || location === '') return res
    // The redirect body is a few bytes of HTML; draining it lets the socket
    // go back to the pool.
    res.body.resume()
    if (hop >= maxRedirects) throw badGateway(`upstream redirected more than ${maxRedirects} times`)
    let next: URL
    try {
      next = new URL(location, req.url)
    } catch {
      throw badGateway('upstream sent an unparsable redirect Location')
    }
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw badGateway(`upstream redirected to an unsupported scheme ${next.protocol}`)
    }
    const headers = { ...req.headers }
    if (next.origin !== req.url.origin) for (const h of crossOriginUnsafe) delete headers[h]
    // 303 (and 301/302 after POST, as browsers do) turn into a GET without body.
    let method = req.method
    let body = req.body
    if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
      if (method !== 'HEAD') method = 'GET'
      body = undefined
      delete headers['content-type']
    }
    req.log?.debug('upstream redirect', { status: res.status, from: redactUrl(req.url), to: redactUrl(next) })
    req = { ...req, method, url: next, headers, body }
  }
}
