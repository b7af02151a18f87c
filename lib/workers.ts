// `--workers N`: N processes serving one port (node:cluster; the primary
// accepts and hands connections round-robin) and one cache directory (the
// cache's on-disk claims make a blob one upstream download across processes).
//
//   primary: validates the configuration, forks N workers running the same
//            command line, restarts a worker that dies, turns SIGTERM/SIGINT
//            and SIGHUP into IPC messages, exits when the workers have.
//            Adds up the workers' metrics for whichever worker a scrape
//            reaches (status/cluster-snapshots.ts).
//   worker:  runs the proxy as a single process would; stops on the IPC
//            shutdown message, its own SIGTERM/SIGINT, or losing the primary.
//
// IPC rather than forwarded signals: Ctrl-C signals the whole process group,
// and a worker that got SIGINT from the terminal and SIGTERM from the primary
// would be killed by the second signal in the middle of its drain.
import cluster, { type Worker } from 'node:cluster'
import { availableParallelism } from 'node:os'
import { ConfigError } from './config.js'
import type { Fields, Logger } from './log.js'
import { WorkerSnapshots } from './status/cluster-snapshots.js'

type Message = { crproxy: 'shutdown' } | { crproxy: 'reload' } | { crproxy: 'fatal'; message: string }

/** `1` (default), `4`, or `0`/`auto` for one per core. */
export function parseWorkers(s: string): number {
  if (s === 'auto' || s === '0') return availableParallelism()
  if (!/^\d+$/.test(s) || Number(s) > 1024) throw new ConfigError(`--workers: invalid value ${JSON.stringify(s)}: expected a number of processes (1 to 1024), 0 or auto`)
  return Number(s)
}

export function isWorker(): boolean {
  return cluster.isWorker
}

/** Bound into every log line of a worker, so lines from different workers can be told apart. */
export function workerLogFields(): Fields | undefined {
  return cluster.isWorker ? { worker: cluster.worker?.id, pid: process.pid } : undefined
}

/** Resolves when the primary asks this worker to stop, or goes away. Never in a single process. */
export function workerShutdown(): Promise<string> {
  if (!cluster.isWorker) return new Promise(() => {})
  return new Promise((resolve) => {
    process.on('message', (m: Message) => {
      if (m?.crproxy === 'shutdown') resolve('shutdown')
    })
    process.once('disconnect', () => resolve('primary gone'))
  })
}

/** Calls `fn` on SIGHUP and, in a worker, on the primary's reload message. Returns an unsubscribe. */
export function onReloadRequest(fn: () => void): () => void {
  const onSignal = () => fn()
  const onMessage = (m: Message) => {
    if (m?.crproxy === 'reload') fn()
  }
  process.on('SIGHUP', onSignal)
  if (cluster.isWorker) process.on('message', onMessage)
  return () => {
    process.off('SIGHUP', onSignal)
    process.off('message', onMessage)
  }
}

export interface PrimaryOptions {
  workers: number
  /** The command line the workers run (the same flags). */
  argv: string[]
  log: Logger
  /** Restarts allowed within `restartWindow` ms before the primary gives up. */
  maxRestarts?: number
  restartWindow?: number
  /** ms the workers get to drain before they are killed. */
  shutdownGrace?: number
  /** Prints the one line a worker's refused configuration ends the start with. */
  fatal: (message: string) => void
}

/**
 * In a worker: hands a configuration error to the primary, which prints it
 * once (every worker would otherwise print the same line). False in a
 * single process: print it yourself.
 */
export async function reportFatalToPrimary(message: string): Promise<boolean> {
  const send = process.send?.bind(process)
  if (!cluster.isWorker || !send) return false
  // Delivered before the worker exits (an exit right after send() can drop it).
  return new Promise((resolve) => send({ crproxy: 'fatal', message } satisfies Message, undefined, {}, (err) => resolve(!err)))
}

/** Runs the primary until shutdown; returns the process exit code. */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  const { log } = opts
  const maxRestarts = opts.maxRestarts ?? 10
  const window = opts.restartWindow ?? 60_000
  const grace = opts.shutdownGrace ?? 15_000
  cluster.setupPrimary({ args: opts.argv })
  const restarts: number[] = []
  let stopping = false
  let exitCode = 0
  let listening = false
  let fatalMessage: string | undefined
  const snapshots = new WorkerSnapshots()

  return new Promise((resolve) => {
    const send = (m: Message) => {
      for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(m)
    }
    const fork = (): Worker => {
      const w = cluster.fork()
      w.on('error', () => {}) // IPC to a dying worker (EPIPE): the exit handler deals with it
      snapshots.attach(w)
      w.on('message', (m: Message) => {
        if (m?.crproxy === 'fatal' && fatalMessage === undefined) fatalMessage = String(m.message)
      })
      return w
    }
    const alive = () => Object.values(cluster.workers ?? {}).filter(Boolean).length
    const stop = (why: string, code: number) => {
      if (stopping) return
      stopping = true
      exitCode = code
      if (!listening && fatalMessage !== undefined) opts.fatal(fatalMessage)
      else log.info('stopping workers', { reason: why })
      send({ crproxy: 'shutdown' })
      setTimeout(() => {
        for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
      }, grace).unref()
      if (alive() === 0) finish()
    }
    const finish = () => {
      snapshots.close()
      process.off('SIGTERM', onTerm)
      process.off('SIGINT', onTerm)
      process.off('SIGHUP', onHup)
      cluster.off('exit', onExit)
      cluster.removeAllListeners('listening')
      resolve(exitCode)
    }
    const onTerm = (sig: string) => stop(sig, 0)
    const onHup = () => {
      log.info('reload requested: forwarding to workers', { workers: alive() })
      send({ crproxy: 'reload' })
    }
    const onExit = (w: Worker, code: number | null, signal: string | null) => {
      snapshots.retire(w)
      if (stopping) {
        if (alive() === 0) finish()
        return
      }
      if (code === 2) {
        // A configuration the worker refused (port in use, cache dir): a
        // restart would fail the same way. Before any worker listened, the
        // worker's own message is the one line of a failed start.
        if (listening || fatalMessage === undefined) log.error('worker refused its configuration: stopping', { worker: w.id })
        return stop('worker configuration error', 2)
      }
      const now = Date.now()
      while (restarts.length && (restarts[0] as number) < now - window) restarts.shift()
      if (restarts.length >= maxRestarts) {
        log.error('workers keep dying: giving up', { restarts: restarts.length, window_s: window / 1000 })
        return stop('too many restarts', 1)
      }
      restarts.push(now)
      log.warn('worker died: restarting', { worker: w.id, pid: w.process.pid, code, signal })
      fork()
    }
    process.on('SIGTERM', onTerm)
    process.on('SIGINT', onTerm)
    process.on('SIGHUP', onHup)
    cluster.on('exit', onExit)
    cluster.once('listening', () => {
      listening = true
      log.info('workers started', { workers: opts.workers, pid: process.pid })
    })
    for (let i = 0; i < opts.workers; i++) fork()
  })
}
