// The requests being answered now, so a shutdown can say which ones it cut at
// its deadline (they would otherwise end with no word of why) and how many it
// let finish.
import type { Logger } from './log.js'

export interface InflightRequest {
  method: string | undefined
  path: string
  client: string
  started: number
  log: Logger
}

export interface ShutdownSummary {
  /** Requests answered since start, the cut ones included. */
  requests: number
  /** In flight when the shutdown began and finished within the grace period. */
  drained: number
  /** Cut at the deadline. */
  cut: number
  ms: number
}

export class InflightRequests {
  readonly #now = new Set<InflightRequest>()
  readonly #cut = new WeakSet<InflightRequest>()
  #started = 0
  #draining = false
  #drained = 0

  /** Tracks `r` until the returned function is called. */
  add(r: InflightRequest): () => void {
    this.#started++
    this.#now.add(r)
    return () => {
      if (this.#now.delete(r) && this.#draining && !this.#cut.has(r)) this.#drained++
    }
  }

  get size(): number {
    return this.#now.size
  }

  /** The shutdown has begun: requests ending from here on were drained (or cut). */
  shutdownBegins(): void {
    this.#draining = true
  }

  /** Logs each request still running as cut at the deadline; returns how many. */
  cutAll(graceMs: number): number {
    const now = Date.now()
    const cut = [...this.#now]
    for (const r of cut) {
      this.#cut.add(r)
      r.log.warn('request cut at the shutdown deadline', { method: r.method, path: r.path, client: r.client, ms: now - r.started, grace_ms: graceMs })
    }
    return cut.length
  }

  summary(cut: number, started: number): ShutdownSummary {
    return { requests: this.#started, drained: this.#drained, cut, ms: Date.now() - started }
  }
}
