// The last hour for the status page's chart: one sample of the node's
// cumulative counters per minute in a fixed ring of 61 (60 differences).

export interface HistoryPoint {
  /** ms epoch. */
  t: number
  hits: number
  misses: number
  bytesFromCache: number
  bytesFromUpstream: number
}

const SLOTS = 61
const MINUTE = 60_000

export class History {
  readonly #ring: HistoryPoint[] = []

  /** Keeps `p` if it is the first of its minute. */
  sample(p: HistoryPoint): void {
    const last = this.#ring[this.#ring.length - 1]
    if (last && Math.floor(last.t / MINUTE) === Math.floor(p.t / MINUTE)) return
    this.#ring.push(p)
    if (this.#ring.length > SLOTS) this.#ring.shift()
  }

  /** Oldest first; within the last hour. */
  points(now = Date.now()): HistoryPoint[] {
    return this.#ring.filter((p) => p.t >= now - SLOTS * MINUTE)
  }
}
