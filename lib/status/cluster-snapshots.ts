// The node's figures under --workers, over the cluster's IPC channel:
//
//   worker A (scrape) ──node-snapshot──▶ primary ──collect──▶ every worker
//   worker A ◀──node-snapshot-result── primary ◀──collected── every worker
//
// The primary keeps each worker's last answer: a worker slow to answer
// (busy, or just forked) counts with its last figures, and a worker that
// dies is retired with them (node-view.ts), so the sums never go backwards.
// A worker that cannot reach the primary answers with its own figures.
import cluster, { type Worker } from 'node:cluster'
import { NodeView, type NodeSnapshot, type NodeSnapshots, type ProcessSnapshot } from './node-view.js'

type Message =
  | { crproxy: 'node-snapshot'; id: number }
  | { crproxy: 'node-snapshot-result'; id: number; snapshot: NodeSnapshot }
  | { crproxy: 'collect'; id: number }
  | { crproxy: 'collected'; id: number; snapshot: ProcessSnapshot }

/** ms the primary waits for workers' answers before it uses their last ones. */
const COLLECT_WAIT = 1000
/** ms a worker waits for the primary. */
const ASK_WAIT = 3000

/** In a worker: the node's figures from the primary; answers the primary's collects with `local()`. */
export class PrimarySnapshots implements NodeSnapshots {
  #next = 0
  readonly #waiting = new Map<number, (s: NodeSnapshot | undefined) => void>()
  readonly #onMessage: (m: Message) => void
  readonly #fallback: NodeView

  constructor(private readonly local: () => ProcessSnapshot) {
    this.#fallback = new NodeView(async () => [local()], 60_000)
    this.#onMessage = (m) => {
      if (m?.crproxy === 'collect') return void send({ crproxy: 'collected', id: m.id, snapshot: this.local() })
      if (m?.crproxy === 'node-snapshot-result') this.#waiting.get(m.id)?.(m.snapshot)
    }
    process.on('message', this.#onMessage)
  }

  async snapshot(): Promise<NodeSnapshot> {
    const id = this.#next++
    const answer = await new Promise<NodeSnapshot | undefined>((resolve) => {
      const answered = (s: NodeSnapshot | undefined) => {
        clearTimeout(timer)
        resolve(s)
      }
      const timer = setTimeout(answered, ASK_WAIT)
      this.#waiting.set(id, answered)
      // No channel to the primary: answer now, and leave no timer behind.
      if (!send({ crproxy: 'node-snapshot', id })) answered(undefined)
    })
    this.#waiting.delete(id)
    return answer ?? this.#fallback.snapshot()
  }

  close(): void {
    process.off('message', this.#onMessage)
    this.#fallback.close()
    for (const resolve of this.#waiting.values()) resolve(undefined)
  }
}

function send(m: Message): boolean {
  if (!process.send || !process.connected) return false
  try {
    process.send(m, undefined, {}, () => {})
    return true
  } catch {
    return false
  }
}

/** In the primary: gathers the workers' snapshots and answers their requests for the node's. */
export class WorkerSnapshots {
  readonly #last = new Map<number, ProcessSnapshot>()
  /** Workers retired: an answer of theirs still in the pipe must not count twice. */
  readonly #gone = new Set<number>()
  readonly #pending = new Map<number, { want: Set<number>; done: () => void }>()
  #next = 0
  /** Scrapes that arrive together share one round of collects. */
  #collecting: Promise<ProcessSnapshot[]> | null = null
  readonly view: NodeView

  constructor() {
    this.view = new NodeView(() => (this.#collecting ??= this.#collect().finally(() => (this.#collecting = null))))
  }

  /** Called for every worker forked. */
  attach(w: Worker): void {
    w.on('message', (m: Message) => {
      if (m?.crproxy === 'collected') {
        if (this.#gone.has(w.id)) return
        this.#last.set(w.id, m.snapshot)
        const p = this.#pending.get(m.id)
        if (p && p.want.delete(w.id) && p.want.size === 0) p.done()
      } else if (m?.crproxy === 'node-snapshot') {
        void this.view.snapshot().then((snapshot) => {
          if (w.isConnected()) w.send({ crproxy: 'node-snapshot-result', id: m.id, snapshot } satisfies Message)
        })
      }
    })
  }

  /** A worker exited: its last figures are kept. */
  retire(w: Worker): void {
    const last = this.#last.get(w.id)
    this.#last.delete(w.id)
    this.#gone.add(w.id)
    if (last) this.view.retire(last)
    for (const p of this.#pending.values()) if (p.want.delete(w.id) && p.want.size === 0) p.done()
  }

  async #collect(): Promise<ProcessSnapshot[]> {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w?.isConnected())
    const id = this.#next++
    await new Promise<void>((resolve) => {
      const want = new Set(workers.map((w) => w.id))
      const timer = setTimeout(done, COLLECT_WAIT)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.#pending.set(id, { want, done })
      if (want.size === 0) return done()
      for (const w of workers) w.send({ crproxy: 'collect', id } satisfies Message, undefined, {}, () => {})
    })
    this.#pending.delete(id)
    return workers.map((w) => this.#last.get(w.id)).filter((s): s is ProcessSnapshot => s !== undefined)
  }

  close(): void {
    this.view.close()
  }
}

/** The node's figures for this process: from the primary in a worker, else its own. */
export function nodeSnapshots(local: () => ProcessSnapshot): NodeSnapshots {
  return cluster.isWorker ? new PrimarySnapshots(local) : new NodeView(async () => [local()])
}
