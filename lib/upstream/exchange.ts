// One request/response on a connection: the state machine the parser
// callbacks drive, its two timers and its abort signal.
//
//   head ──headers──▶ body ──message complete──▶ complete
//     │                 │
//     └──── fail ───────┴──▶ failed   (socket destroyed; promise rejects or body errors)
//
// The header timer runs from the request being written to the end of the
// header block; the idle timer runs while reading the body, re-armed by every
// byte and stopped while the consumer holds the socket paused (a slow reader
// is not a stalled upstream).

import { UpstreamError } from '../errors.js'
import { headerBlockProblem } from './response-framing.js'
import { keepAliveAllowed, keepAliveHint, toHeaderMap } from './response-headers.js'
import { ResponseBody, type BodyOwner, type BodySink } from './response-body.js'
import type { Socket } from 'node:net'
import type { SlotBudget } from './slot-pool.js'
import type { UpstreamResponse } from './types.js'

export interface ExchangeOptions {
  method: string
  url: URL
  headerTimeout: number
  idleTimeout: number
  signal: AbortSignal | undefined
}

/** What an exchange needs from its connection. */
export interface ExchangeHost {
  readonly socket: Socket
  readonly origin: string
  keepAliveHint: number | null
  /** The exchange is over for the socket: stop routing parser events to it. */
  detach(ex: Exchange): void
  /** Destroy the socket; it never serves another request. */
  kill(): void
  /** The response was received in full. */
  release(reusable: boolean): void
  /** Can this socket read into slots (it reads through onread)? */
  readonly readsIntoSlots: boolean
  /** Reads land in this budget's slots from now on (null: ordinary buffers again). */
  useSlots(budget: SlotBudget | null, starved?: (on: boolean) => void, remaining?: number): void
}

/** The parts of the parser's header info we use. */
export interface HeadInfo {
  versionMajor: number
  versionMinor: number
  headers: string[]
  statusCode: number
  statusMessage: string
  shouldKeepAlive: boolean
}

type Phase = 'head' | 'body' | 'complete' | 'failed'

export class Exchange implements BodyOwner {
  readonly promise: Promise<UpstreamResponse>
  /** Any response byte seen: a failure before that on a reused socket is a stale socket. */
  received = false
  /** Inside a 1xx response, which is skipped (RFC 9110 §15.2). */
  interim = false
  private phase: Phase = 'head'
  private noBody = false
  private keepAlive = false
  private paused = false
  private bodyBytes = 0
  /** Content-Length, when the body is framed by it. */
  private length: number | undefined
  private body: ResponseBody | null = null
  /** Set once a consumer took the body over from the stream (takeOver). */
  private sink: BodySink | null = null
  private timer: NodeJS.Timeout | null = null
  private resolve!: (res: UpstreamResponse) => void
  private reject!: (err: unknown) => void
  private readonly host: ExchangeHost
  private readonly opts: ExchangeOptions

  constructor(host: ExchangeHost, opts: ExchangeOptions) {
    this.host = host
    this.opts = opts
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    opts.signal?.addEventListener('abort', this.onAbort, { once: true })
    this.timer = setTimeout(this.onHeaderTimeout, opts.headerTimeout)
    this.timer.unref()
  }

  /** A chunk arrived from the socket (before the parser sees it). */
  onBytes(): void {
    this.received = true
    if (this.phase === 'body' && this.timer !== null) this.timer.refresh()
  }

  /** Parser: header block complete. Returns 1 to make the parser skip a body. */
  onHead(info: HeadInfo): number {
    if (this.phase !== 'head') return 1
    const status = info.statusCode
    if (status === 101) {
      this.fail(this.error('protocol', 'unexpected 101 Switching Protocols'))
      return 1
    }
    // Refused before any of it is believed: the socket dies with the exchange,
    // so whatever bytes follow are never read as a next response.
    const problem = headerBlockProblem(info.headers)
    if (problem !== null) {
      this.fail(this.error('protocol', `malformed response: ${problem}`))
      return 1
    }
    if (status < 200) {
      this.interim = true
      return 1
    }
    const headers = toHeaderMap(info.headers)
    const cl = headers['content-length']
    if (typeof cl === 'string' && headers['transfer-encoding'] === undefined && /^\d+$/.test(cl)) this.length = Number(cl)
    // No body for HEAD, 204 and 304 whatever the framing headers say (RFC 9112 §6.3 rule 1-2).
    this.noBody = this.opts.method === 'HEAD' || status === 204 || status === 304
    this.keepAlive =
      (this.noBody || info.shouldKeepAlive) &&
      keepAliveAllowed(info.versionMajor, info.versionMinor, headers, true)
    this.host.keepAliveHint = keepAliveHint(headers)
    this.phase = 'body'
    this.body = new ResponseBody(this)
    this.clearTimer()
    if (!this.noBody) {
      this.timer = setTimeout(this.onIdleTimeout, this.opts.idleTimeout)
      this.timer.unref()
    }
    this.resolve({
      status,
      statusText: info.statusMessage,
      headers,
      body: this.body,
      url: this.opts.url,
    })
    return this.noBody ? 1 : 0
  }

  /** Parser: a slice of the body. Passed on as is; no copy. */
  onBody(chunk: Buffer): void {
    if (this.phase !== 'body' || this.body === null) return
    this.bodyBytes += chunk.length
    if (this.sink !== null) return this.sink.chunk(chunk)
    if (!this.body.push(chunk) && !this.paused) {
      this.paused = true
      this.clearTimer()
      this.host.socket.pause()
    }
  }

  /** Parser: the response ended. clean is false when bytes followed it. */
  onComplete(clean: boolean): void {
    if (this.phase !== 'body' || this.body === null) return
    this.phase = 'complete'
    this.clearTimer()
    this.host.detach(this)
    if (this.sink !== null) {
      this.host.useSlots(null)
      this.sink.end()
      // The stream ends too (nobody reads it): its 'end' and 'close' still tell.
      this.body.resume()
    }
    this.body.push(null)
    // Nothing left to read for the consumer's sake; an idle pooled socket must
    // flow so that a close from the server is seen.
    if (this.paused) {
      this.paused = false
      this.host.socket.resume()
    }
    if (this.noBody) this.unlisten()
    this.host.release(clean && this.keepAlive)
  }

  /** The socket ended (EOF) before the parser completed the response. */
  onEof(): void {
    this.fail(
      this.phase === 'head'
        ? this.error('reset', 'connection closed before the response headers')
        : this.error('reset', `connection closed mid-body after ${this.bodyBytes} bytes`),
    )
  }

  /** Fails the exchange: destroys the socket; rejects, or errors the body. No-op once over. */
  fail(err: unknown): void {
    if (this.phase === 'complete' || this.phase === 'failed') return
    const inHead = this.phase === 'head'
    this.phase = 'failed'
    this.clearTimer()
    this.host.detach(this)
    this.host.kill()
    if (inHead) {
      this.unlisten()
      this.reject(err)
    } else {
      const sink = this.sink
      this.sink = null
      // A taken-over body's error goes to its sink; nobody listens on the stream.
      if (sink !== null) {
        sink.error(err as Error)
        this.body?.destroy()
      } else {
        this.body?.destroy(err as Error)
      }
    }
  }

  /** An UpstreamError naming this request (path only: query strings may carry signed tokens). */
  error(kind: 'reset' | 'timeout' | 'protocol', message: string, cause?: unknown): UpstreamError {
    return new UpstreamError(kind, this.host.origin, `${this.opts.method} ${this.opts.url.pathname}: ${message}`, cause)
  }

  takeOver(sink: BodySink, slots: SlotBudget): boolean {
    const body = this.body
    if (body === null || this.sink !== null || body.destroyed || (this.phase !== 'body' && this.phase !== 'complete')) return false
    // Slots are the taken-over body's only backpressure: no slots, no takeover.
    if (this.phase === 'body' && !this.host.readsIntoSlots) return false
    // What the stream holds goes first, as one chunk (read() joins it).
    for (let c = body.read() as Buffer | null; c !== null; c = body.read() as Buffer | null) sink.chunk(c)
    if (this.phase === 'complete') {
      sink.end()
      return true
    }
    this.sink = sink
    this.host.useSlots(slots, this.onStarved, this.length === undefined ? undefined : this.length - this.bodyBytes)
    if (this.paused) {
      this.paused = false
      this.armIdle()
      this.host.socket.resume()
    }
    return true
  }

  private readonly onStarved = (on: boolean): void => {
    // Waiting for a free slot is not an idle upstream.
    if (this.phase !== 'body') return
    if (on) this.clearTimer()
    else this.armIdle()
  }

  private armIdle(): void {
    this.clearTimer()
    this.timer = setTimeout(this.onIdleTimeout, this.opts.idleTimeout)
    this.timer.unref()
  }

  bodyWanted(): void {
    if (this.sink !== null || !this.paused || this.phase !== 'body') return
    this.paused = false
    this.timer = setTimeout(this.onIdleTimeout, this.opts.idleTimeout)
    this.timer.unref()
    this.host.socket.resume()
  }

  bodyClosed(): void {
    this.unlisten()
    // Destroyed by the consumer before the response was received in full:
    // the rest of it is still on the wire, so the socket cannot be reused.
    if (this.phase === 'body') {
      this.phase = 'failed'
      this.sink = null
      this.clearTimer()
      this.host.detach(this)
      this.host.kill()
    }
  }

  private readonly onAbort = (): void => {
    const reason: unknown = this.opts.signal?.reason
    if (this.phase === 'complete') this.body?.destroy(reason as Error)
    else this.fail(reason)
  }

  private readonly onHeaderTimeout = (): void => {
    this.fail(this.error('timeout', `no response headers within ${this.opts.headerTimeout} ms`))
  }

  private readonly onIdleTimeout = (): void => {
    this.fail(this.error('timeout', `body stalled for ${this.opts.idleTimeout} ms after ${this.bodyBytes} bytes`))
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private unlisten(): void {
    this.opts.signal?.removeEventListener('abort', this.onAbort)
  }
}
