// SHA-256 off the main thread: for verify-on-serve of cached blobs, for
// fills and for uncached blobs passing through.
//
// Hashing inline costs the main thread time it cannot spend moving bytes to
// sockets. Here each chunk is copied (a memcpy, several times cheaper than
// the hash; docs/benchmarks.md) into a ring of shared memory that the worker
// thread received once, and the worker hashes it there while the main thread
// sends the chunk itself; a slot of the ring is reused only after the worker
// acknowledged it. The copy is taken synchronously from the buffer that is
// pushed to the client, which the reader never reuses, so the bytes hashed
// are the bytes sent. The final chunk is held by the reader until digest()
// answers.
//
// A chunk cut from a fill's slot (lib/upstream/slot-pool.ts) is not copied:
// the worker was handed the slot's memory once and hashes the chunk in
// place, and the chunk holds its slot until the worker acknowledged it.
//
// One fixed ring per worker (maxBacklog bytes) bounds the memory that
// verification holds, however many blobs are being served: a per-chunk
// SharedArrayBuffer is freed only once both threads have garbage-collected
// their handles on it, and the worker allocates too little for its GC to run
// often (concurrent large pulls peaked above a GiB of RSS that way).
//
// Jobs go only to workers that came online; until one has (start-up takes a
// few tens of ms) and when none can start, hashing is inline: slower, equally
// correct. A hasher whose worker dies mid-stream fails its digest() (the read
// stream errors, the client retries).
import { createHash } from 'node:crypto'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Slot, SlotPool } from '../upstream/slot-pool.js'

/** A worker thread died with jobs on it: their digests are lost (the streams error, nothing is served as verified). */
export class HashWorkerError extends Error {
  readonly code = 'EHASHWORKER'
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'HashWorkerError'
  }
}

export interface Hasher {
  /** A buffer for the next read (shared memory for the worker hasher). */
  alloc(size: number): Buffer
  update(chunk: Buffer): void
  /** null when more may be fed now, else resolves once the worker caught up. */
  backlog(): Promise<void> | null
  /** Hex digest of everything fed; the hasher is finished afterwards. */
  digest(): Promise<string>
  /** Forget this hasher (stream destroyed); safe to call more than once. */
  dispose(): void
}

export function inlineHasher(algorithm = 'sha256'): Hasher {
  const hash = createHash(algorithm)
  return {
    alloc: (size) => Buffer.allocUnsafeSlow(size),
    update: (chunk) => void hash.update(chunk),
    backlog: () => null,
    digest: async () => hash.digest('hex'),
    dispose: () => {},
  }
}

// The worker is plain CommonJS evaluated from this string, so it runs the same
// under tap's TypeScript loader, from dist/, or bundled.
const workerSource = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const hashes = new Map()
let ring = null
const slots = []
parentPort.on('message', (m) => {
  if (m.op === 'u') {
    let h = hashes.get(m.id)
    if (!h) hashes.set(m.id, (h = createHash(m.alg)))
    if (m.slot !== undefined) {
      h.update(slots[m.slot].subarray(m.off, m.off + m.len))
      parentPort.postMessage({ op: 'a', id: m.id, n: m.len, ring: false, slot: true })
      return
    }
    h.update(m.buf ? new Uint8Array(m.buf, m.off, m.len) : ring.subarray(m.off, m.off + m.len))
    parentPort.postMessage({ op: 'a', id: m.id, n: m.buf ? m.len : m.len + m.pad, ring: !m.buf })
  } else if (m.op === 's') {
    slots[m.slot] = new Uint8Array(m.buf)
  } else if (m.op === 'r') {
    ring = new Uint8Array(m.buf)
  } else if (m.op === 'd') {
    const h = hashes.get(m.id) ?? createHash(m.alg)
    hashes.delete(m.id)
    parentPort.postMessage({ op: 'd', id: m.id, hex: h.digest('hex') })
  } else if (m.op === 'x') {
    hashes.delete(m.id)
  }
})
`

type FromWorker = { op: 'a'; id: number; n: number; ring: boolean; slot?: boolean } | { op: 'd'; id: number; hex: string }

interface Pending {
  outstanding: number
  /** Entries of this job still waiting in the thread's queue for ring space. */
  queued: number
  drained: (() => void) | null
  done: { resolve: (hex: string) => void; reject: (err: Error) => void } | null
}

class HashThread {
  readonly worker: Worker
  readonly jobs = new Map<number, Pending>()
  dead: Error | null = null
  online = false
  readonly ready: Promise<boolean>
  /** Shared memory the chunks are copied into (null: copy and transfer each chunk). */
  readonly ring: Buffer | null
  /** Next write position in the ring, and bytes written there the worker has not acknowledged. */
  #head = 0
  #used = 0
  /** Chunks (and digest requests: chunk null) waiting for ring space, in order; a slot's chunk waits only behind them. */
  readonly #queue: Array<{ id: number; alg: string; chunk: Buffer | null; off: number; slot: Slot | null }> = []
  /** Slots whose chunks the worker has been sent and not acknowledged yet, in order. */
  readonly #slotsOut: Slot[] = []
  /** Slot ids the worker has been given. */
  readonly #slotsKnown = new Set<number>()

  constructor(onDeath: (t: HashThread) => void, ringSize: number) {
    // execArgv: [] keeps test loaders (--import …) out of the worker.
    this.worker = new Worker(workerSource, { eval: true, execArgv: [] })
    this.worker.unref()
    if (ringSize > 0) {
      const sab = new SharedArrayBuffer(ringSize)
      this.ring = Buffer.from(sab)
      this.worker.postMessage({ op: 'r', buf: sab })
    } else {
      this.ring = null
    }
    this.ready = new Promise((resolve) => {
      this.worker.once('online', () => {
        this.online = true
        resolve(true)
      })
      this.worker.once('exit', () => resolve(false))
    })
    this.worker.on('message', (m: FromWorker) => {
      if (m.op === 'a' && m.slot) {
        // Acknowledged in order; a slot chunk never counts toward backlog().
        this.#slotsOut.shift()?.release()
        return
      }
      if (m.op === 'a' && m.ring) {
        // Ring bytes are freed even when their job was disposed meanwhile.
        this.#used -= m.n
        this.#pump()
        return
      }
      const job = this.jobs.get(m.id)
      if (!job) return
      if (m.op === 'a') {
        job.outstanding -= m.n
        const drained = job.drained
        job.drained = null
        drained?.()
      } else {
        this.#forget(m.id)
        job.done?.resolve(m.hex)
      }
    })
    const die = (err: Error) => {
      if (this.dead) return
      this.dead = err
      for (const [id, job] of this.jobs) {
        this.#forget(id)
        job.drained?.()
        job.done?.reject(err)
      }
      for (const e of this.#queue) e.slot?.release()
      this.#queue.length = 0
      for (const s of this.#slotsOut.splice(0)) s.release()
      onDeath(this)
    }
    this.worker.on('error', (err) => die(new HashWorkerError(`hash worker failed: ${err.message}`, { cause: err })))
    this.worker.on('exit', (code) => die(new HashWorkerError(`hash worker exited (${code})`)))
  }

  /** Registers a job; the worker holds the event loop open while it has jobs. */
  track(id: number, job: Pending): void {
    if (this.jobs.size === 0) this.worker.ref()
    this.jobs.set(id, job)
  }

  #forget(id: number): void {
    if (this.jobs.delete(id) && this.jobs.size === 0) this.worker.unref()
  }

  /**
   * Queues a chunk (or, with chunk null, the digest request) of job id for
   * the worker: copied into the ring as space allows, in order.
   */
  enqueue(id: number, alg: string, chunk: Buffer | null, job: Pending, slot: Slot | null = null): void {
    job.queued++
    slot?.hold()
    this.#queue.push({ id, alg, chunk, off: 0, slot })
    this.#pump()
  }

  /** Hands the worker a slot of shared memory, once: chunks cut from it are hashed in place. */
  share(slot: Slot): void {
    if (this.dead || this.#slotsKnown.has(slot.id)) return
    this.#slotsKnown.add(slot.id)
    this.worker.postMessage({ op: 's', slot: slot.id, buf: slot.buf.buffer })
  }


  /** Moves queued chunks into free ring space (at #head, wrapping around). */
  #pump(): void {
    const ring = this.ring
    while (this.#queue.length > 0 && !this.dead) {
      const e = this.#queue[0]!
      if (e.slot !== null && e.chunk !== null) {
        this.worker.postMessage({ op: 'u', id: e.id, alg: e.alg, slot: e.slot.id, off: e.chunk.byteOffset, len: e.chunk.length })
        this.#slotsOut.push(e.slot)
      } else if (e.chunk !== null) {
        if (ring === null) return
        // V8 copies into shared memory word by word only when source and
        // destination agree modulo 8 (else byte by byte): skip up to 7 bytes
        // of ring, or its tail, to make them agree. The worker frees the
        // skipped bytes with the chunk's.
        const src = e.chunk.byteOffset + e.off
        let pad = (src - this.#head) & 7
        if (this.#head + pad >= ring.length) pad = ring.length - this.#head + (src & 7)
        if (ring.length - this.#used <= pad) return
        const at = (this.#head + pad) % ring.length
        const n = Math.min(e.chunk.length - e.off, ring.length - this.#used - pad, ring.length - at)
        e.chunk.copy(ring, at, e.off, e.off + n)
        this.worker.postMessage({ op: 'u', id: e.id, alg: e.alg, off: at, len: n, pad })
        this.#head = (at + n) % ring.length
        this.#used += pad + n
        e.off += n
        if (e.off < e.chunk.length) continue
      } else {
        this.worker.postMessage({ op: 'd', id: e.id, alg: e.alg })
      }
      this.#queue.shift()
      const job = this.jobs.get(e.id)
      if (job && --job.queued === 0) {
        const drained = job.drained
        job.drained = null
        drained?.()
      }
    }
  }

  forget(id: number): void {
    if (this.jobs.has(id)) {
      for (let i = this.#queue.length - 1; i >= 0; i--) {
        const e = this.#queue[i]!
        if (e.id !== id) continue
        e.slot?.release()
        this.#queue.splice(i, 1)
      }
      this.#forget(id)
      this.worker.postMessage({ op: 'x', id })
    }
  }
}

/**
 * Blobs up to 1 MiB are hashed inline: the worker round trip for their
 * digest costs more than hashing them (docs/benchmarks.md).
 */
const INLINE_HASH_MAX = 1024 * 1024

export interface HashWorkerPoolOptions {
  /** Worker threads; default: one per spare core, at most 4. 0 = always inline. */
  threads?: number
  /** Bytes in flight to a worker (its shared ring) before backlog() asks readers to wait. */
  maxBacklog?: number
  /** false = copy each chunk into a transferred ArrayBuffer instead of the shared ring (for comparison). */
  sharedMemory?: boolean
  algorithm?: string
  /** Chunks cut from these slots are hashed in place, not copied into the ring. */
  slots?: SlotPool
}

export class HashWorkerPool {
  readonly #threads: HashThread[] = []
  readonly #size: number
  readonly #maxBacklog: number
  readonly #shared: boolean
  readonly #algorithm: string
  readonly #slots: SlotPool | undefined
  #failures = 0
  #nextId = 1
  #closed = false

  constructor(opts: HashWorkerPoolOptions = {}) {
    this.#size = opts.threads ?? Math.min(4, Math.max(1, availableParallelism() - 1))
    this.#maxBacklog = opts.maxBacklog ?? 8 * 1024 * 1024
    this.#shared = opts.sharedMemory ?? true
    this.#algorithm = opts.algorithm ?? 'sha256'
    this.#slots = opts.slots
  }

  /** The slots whose chunks this pool hashes in place. */
  get slots(): SlotPool | undefined {
    return this.#slots
  }

  /** true once workers could not be started (or died) three times: hashing is inline. */
  get degraded(): boolean {
    return this.#failures >= 3
  }

  /** A hasher for a body of `size` bytes (inline when small or unknown to be big). */
  create(size?: number): Hasher {
    const thread = size !== undefined && size <= INLINE_HASH_MAX ? null : this.#pick()
    if (!thread) return inlineHasher(this.#algorithm)
    const id = this.#nextId++
    const job: Pending = { outstanding: 0, queued: 0, drained: null, done: null }
    thread.track(id, job)
    const alg = this.#algorithm
    let finished = false
    return {
      alloc: (size) => Buffer.allocUnsafeSlow(size),
      update: (chunk) => {
        if (thread.dead || finished) return
        // Queued by reference: the reader never reuses a chunk's buffer, and
        // a slot's chunk holds its slot until the worker acknowledged it.
        if (thread.ring !== null) {
          // An overflow buffer is never reused: it is copied like any chunk.
          const slot = this.#slots?.slotOf(chunk)
          if (slot === undefined || !slot.pooled) return thread.enqueue(id, alg, chunk, job)
          thread.share(slot)
          return thread.enqueue(id, alg, chunk, job, slot)
        }
        job.outstanding += chunk.length
        const copy = new Uint8Array(chunk.length)
        copy.set(chunk)
        thread.worker.postMessage({ op: 'u', id, alg, buf: copy.buffer, off: 0, len: chunk.length }, [copy.buffer])
      },
      backlog: () => {
        if (thread.dead || (job.queued === 0 && job.outstanding <= this.#maxBacklog)) return null
        return new Promise<void>((resolve) => {
          job.drained = resolve
        })
      },
      digest: () => {
        if (thread.dead) return Promise.reject(thread.dead)
        finished = true
        return new Promise<string>((resolve, reject) => {
          job.done = { resolve, reject }
          thread.enqueue(id, alg, null, job) // after any chunk still waiting for ring space
        })
      },
      dispose: () => {
        finished = true
        thread.forget(id)
      },
    }
  }

  /** Starts a worker ahead of the first request; resolves whether one is online. */
  async warm(): Promise<boolean> {
    if (this.#closed || this.#size <= 0 || this.degraded) return false
    const t = this.#threads[0] ?? this.#spawn()
    return t ? t.ready : false
  }

  /** The least busy online worker; null = hash inline (none online yet, or none at all). */
  #pick(): HashThread | null {
    if (this.#closed || this.#size <= 0 || this.degraded) return null
    let best: HashThread | undefined
    for (const t of this.#threads) if (t.online && (!best || t.jobs.size < best.jobs.size)) best = t
    const starting = this.#threads.some((t) => !t.online)
    if ((!best || best.jobs.size > 0) && !starting && this.#threads.length < this.#size) this.#spawn()
    return best ?? null
  }

  #spawn(): HashThread | null {
    try {
      const t = new HashThread(
        (dead) => {
          this.#failures++
          const i = this.#threads.indexOf(dead)
          if (i >= 0) this.#threads.splice(i, 1)
        },
        this.#shared ? this.#maxBacklog : 0,
      )
      this.#threads.push(t)
      return t
    } catch {
      this.#failures = 3
      return null
    }
  }

  /** Test hook and shutdown: stops every worker (their pending digests fail). */
  async close(): Promise<void> {
    this.#closed = true
    const threads = this.#threads.splice(0)
    await Promise.all(threads.map((t) => t.worker.terminate()))
  }
}
