// One socket to an upstream (or to a proxy), carrying one exchange at a time,
// with an http-parser-js response parser that lives as long as the socket.
//
// Socket events are listened to once, for the socket's life, and routed to
// the current exchange; bytes that arrive while no exchange is waiting for
// them are a protocol violation and kill the socket. Socket-level failures
// become UpstreamError('reset') here; the exchange maps the rest.

import { HTTPParser } from 'http-parser-js'
import { Exchange, type ExchangeHost, type ExchangeOptions, type HeadInfo } from './exchange.js'
import { readsOf } from './read-buffers.js'
import type { Socket } from 'node:net'
import type { SlotBudget } from './slot-pool.js'
import type { UpstreamResponse } from './types.js'

type Parser = InstanceType<typeof HTTPParser>

// Header bytes decoded one to one, as Node's own parser does: the default
// 'ascii' clears the top bit, turning obs-text into control characters (and
// its values into ones the upstream never sent). A module-wide setting;
// nothing else in the process uses http-parser-js.
HTTPParser.encoding = 'latin1'

export interface ConnectionHooks {
  /** The current response was received in full; reusable says the socket may serve another. */
  released(conn: Connection, reusable: boolean): void
  /** The socket is gone. Called once. */
  died(conn: Connection): void
}

export class Connection implements ExchangeHost {
  readonly socket: Socket
  readonly origin: string
  keepAliveHint: number | null = null
  dead = false
  /** Did the last exchange see any response byte? */
  responded = false
  private readonly hooks: ConnectionHooks
  private readonly parser: Parser
  private current: Exchange | null = null
  private parkTimer: NodeJS.Timeout | null = null

  constructor(socket: Socket, origin: string, hooks: ConnectionHooks) {
    this.socket = socket
    this.origin = origin
    this.hooks = hooks
    const parser = new HTTPParser(HTTPParser.RESPONSE)
    // Indexed callbacks, not the onX setters: those flip the parser into a
    // legacy mode. The callbacks run inside parser.execute().
    parser[HTTPParser.kOnHeadersComplete] = (...args: unknown[]) =>
      this.current?.onHead(headInfo(args)) ?? 1
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => this.current?.onBody(chunk)
    parser[HTTPParser.kOnMessageComplete] = () => this.onMessageComplete()
    this.parser = parser
    socket.setNoDelay(true)
    const reads = readsOf(socket)
    if (reads) reads.sink = this.onData
    else socket.on('data', this.onData)
    socket.on('end', this.onEnd)
    socket.on('error', this.onError)
    socket.on('close', this.onClose)
  }

  /** Sends a request; resolves when the response headers are in. */
  exchange(head: Buffer, body: Buffer | undefined, opts: ExchangeOptions): Promise<UpstreamResponse> {
    if (this.current !== null || this.dead) throw new Error('connection is not free')
    if (opts.signal?.aborted) {
      this.kill()
      return Promise.reject(opts.signal.reason)
    }
    this.unpark()
    this.responded = false
    this.parser.initialize(HTTPParser.RESPONSE)
    const ex = new Exchange(this, opts)
    this.current = ex
    this.socket.write(body === undefined ? head : Buffer.concat([head, body]))
    return ex.promise
  }

  detach(ex: Exchange): void {
    if (this.current !== ex) return
    this.current = null
    readsOf(this.socket)?.useSlots(null)
  }

  get readsIntoSlots(): boolean {
    // A socket without onread (through a CONNECT tunnel) keeps Node's buffers.
    return readsOf(this.socket) !== undefined
  }

  useSlots(budget: SlotBudget | null, starved?: (on: boolean) => void, remaining?: number): void {
    readsOf(this.socket)?.useSlots(budget, starved, remaining)
  }

  release(reusable: boolean): void {
    this.hooks.released(this, reusable && !this.dead)
  }

  kill(): void {
    if (this.dead) return
    this.dead = true
    this.unpark()
    this.socket.destroy()
    this.hooks.died(this)
  }

  /** Idle in the pool: does not hold the process open, and closes after ms. */
  park(ms: number): void {
    this.socket.unref()
    this.parkTimer = setTimeout(() => this.kill(), ms)
    this.parkTimer.unref()
  }

  private unpark(): void {
    if (this.parkTimer !== null) clearTimeout(this.parkTimer)
    this.parkTimer = null
    if (!this.dead) this.socket.ref()
  }

  private readonly onData = (chunk: Buffer): void => {
    const ex = this.current
    if (ex === null) {
      // Nobody asked for these bytes (RFC 9112 §9.3: no pipelining here).
      this.kill()
      return
    }
    this.responded = true
    ex.onBytes()
    let ret: number | Error
    try {
      ret = this.parser.execute(chunk)
    } catch (err) {
      ret = err instanceof Error ? err : new Error(String(err))
    }
    // Once the response completed inside this chunk, whatever the parser made
    // of the rest no longer concerns it (the socket was not reused, see below).
    if (ret instanceof Error && this.current === ex) {
      ex.fail(ex.error('protocol', `malformed response: ${ret.message}`, ret))
    }
  }

  private onMessageComplete(): void {
    const ex = this.current
    if (ex === null) return
    if (ex.interim) {
      ex.interim = false
      return
    }
    // Bytes after the end of the response in the same read mean the framing
    // and the server disagree: answer this response, but never reuse the socket.
    // offset/end are http-parser-js internals: the read position in the chunk.
    const pos = this.parser as unknown as { offset?: number; end?: number }
    const clean = pos.offset === undefined || pos.end === undefined || pos.offset >= pos.end
    ex.onComplete(clean)
  }

  private readonly onEnd = (): void => {
    const ex = this.current
    if (ex !== null) {
      // A close-delimited body ends at EOF (RFC 9112 §6.3 rule 8): finish()
      // completes it. Any other framing is cut short and finish() says so.
      if (ex.received) {
        try {
          this.parser.finish()
        } catch {
          // completion callbacks do not throw; nothing to add to onEof below
        }
      }
      ex.onEof()
    }
    this.kill()
  }

  private readonly onError = (err: Error): void => {
    this.current?.fail(this.current.error('reset', `connection error: ${err.message}`, err))
    this.kill()
  }

  private readonly onClose = (): void => {
    this.current?.fail(this.current.error('reset', 'connection closed'))
    this.kill()
  }
}

// http-parser-js passes one info object, unless some module in the process has
// read HTTPParser.kOnExecute, which switches it (globally) to Node's
// positional arguments. Accept both.
function headInfo(args: unknown[]): HeadInfo {
  const first = args[0]
  if (typeof first === 'object' && first !== null && !Array.isArray(first)) return first as HeadInfo
  return {
    versionMajor: args[0] as number,
    versionMinor: args[1] as number,
    headers: args[2] as string[],
    statusCode: args[5] as number,
    statusMessage: args[6] as string,
    shouldKeepAlive: args[8] as boolean,
  }
}
