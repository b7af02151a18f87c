// One upstream blob body → a cache sink and a client stream.
//
// It is not a Transform (not a body stage): in a Transform the client
// paces the upstream, and a fill must not stall because one client is slow or
// gone (others may be following it). So the upstream is read with backpressure
// from the sink (the disk) only; the same chunks are pushed to the client
// stream, whose buffer is bounded (clientBuffer, 8 MiB). A client slower than
// that spills to disk: from the first byte it has not been handed, it reads
// the fill back from the sink (sink.tail()) at its own pace, and the fill goes
// on at disk speed. Where it cannot spill (length unknown, caching stopped)
// the upstream waits for the client instead. A client that reads nothing for
// idleTimeout is cut loose either way. When the client stream is destroyed
// (the client left), keepWithoutClient decides whether the fill goes on at
// disk speed or stops, so that a small or abandoned request does not buy a
// whole blob's transfer; a body of unknown length stops being cached once it
// no longer fits (fits).
//
//   upstream ──▶ hash, length ──▶ sink (disk) ──commit──▶ blobs/
//                      └──────▶ client buffer ──▶ client
//                               (past clientBuffer: client ◀── sink.tail(offset))
//
// Two ways in. With slots (the writer's client is sent with sendBlob), the
// Tee takes the upstream body over (ResponseBody.takeOver): each slice comes
// to #onChunk as the socket reads it, into the fill's slots; the hash, the
// file and the client hold the slice's slot until they are done with it, and
// the socket waits only when the fill has no slot free. Otherwise (a Range
// on the fill, a body through a CONNECT tunnel, tests' streams) #run reads
// the body as a stream and awaits the disk, the hash and the client.
//
// The client never receives a complete wrong blob: the most recent chunk is
// held back until the SHA-256 and length matched and the sink committed (a
// spilled client's tail holds back the final byte until the commit); on a
// mismatch or an upstream error the client stream errors and the sink aborts.
// A sink write failure (disk full, EIO…) only stops caching: the client still
// gets every byte, still verified (unless it had spilled to the disk that
// failed: then it is cut, and retries).
import { Readable } from 'node:stream'
import type { Logger } from '../log.js'
import type { Hasher } from '../integrity/hash-worker.js'
import { IntegrityError } from '../integrity/integrity-error.js'
import { hasherFor, parseDigest, type DigestAlgorithm } from '../integrity/verify-digest.js'
import { FillCancelledError, StalledError, TooLargeError } from './errors.js'
import { ResponseBody } from '../upstream/response-body.js'
import type { SlotBudget, SlotPool } from '../upstream/slot-pool.js'

export interface CacheSink {
  /** Appends chunks in order; rejects on a disk error (caching stops, serving does not). */
  write(chunks: Buffer[]): Promise<void>
  /** Every byte matched: make it visible. Cleans up after itself if it rejects. */
  commit(): Promise<void>
  /** The fill will not be committed: remove what was written. */
  abort(reason: Error): void
  /**
   * The bytes from `start` to the end, read back as they are written; the
   * final byte comes only after commit() succeeded, and the stream errors if
   * the fill is aborted. Null when the sink cannot (length unknown, not filling).
   */
  tail?(start: number): Readable | null
  /** Aborts once the sink will not commit (abort() was called, by anyone: a cache closing too). */
  readonly signal?: AbortSignal
}

export interface TeeOptions {
  /** 'sha256:<hex>' */
  digest: string
  /** Content-Length of the upstream response, when it sent one. */
  size?: number | undefined
  sink: CacheSink
  /** ms without an upstream byte before the fill is abandoned (0/Infinity: never). */
  idleTimeout: number
  /** Bytes the client stream may buffer before the upstream waits for it. */
  clientBuffer?: number
  /** Bytes handed to the client stream (for metrics). */
  onClientBytes?: (n: number) => void
  /** SHA-256 off the main thread (lib/integrity/hash-worker.ts); default inline. Disposed of at the end. */
  hasher?: Hasher | undefined
  /**
   * The client left with `received` bytes in: should the fill go on without
   * it? Default yes. No: caching stops and the upstream is let go.
   */
  keepWithoutClient?: (received: number) => boolean
  /** Would this many bytes still be kept by the cache? Checked as a body of unknown length grows. */
  fits?: (bytes: number) => boolean
  /**
   * Read the upstream body into these slots and hand the same memory to the
   * hash worker, the file and the client (the hand-pumped path). Only for a
   * client stream whose consumer calls recycle() once each chunk is written
   * (handlers' sendBlob); otherwise, or when the body cannot be taken over,
   * the stream path.
   */
  slots?: { pool: SlotPool; budget: SlotBudget } | undefined
  log?: Logger
}

/**
 * The stream the filling request's client is sent. A consumer that says
 * recycle(chunk) once a chunk is written lets the fill reuse its memory.
 */
export class FillClientStream extends Readable {
  /** Set by the Tee: the chunk's memory is the fill's again. */
  onRecycle: ((chunk: Buffer) => void) | null = null

  recycle(chunk: Buffer): void {
    this.onRecycle?.(chunk)
  }
}

const MiB = 1024 * 1024
const WRITE_BATCH = MiB

/**
 * Reads `upstream` into `opts.sink` and `client` at once. Built by
 * writer-claim.ts for the one request that fills a blob; `client` is what
 * that request sends.
 */
export class Tee {
  /** The verified body for the filling request's client. */
  readonly client: FillClientStream
  readonly #upstream: Readable
  readonly #opts: TeeOptions
  readonly #algorithm: DigestAlgorithm
  readonly #clientBuffer: number
  /** An idle timeout applies (opts.idleTimeout is finite and positive). */
  readonly #timed: boolean
  #clientGone = false
  #caching = true
  #received = 0
  /** Resolves the wait for the client to want more (clientDrained). */
  #wake: (() => void) | null = null
  /** Set once the client reads from the sink instead of from memory. */
  #spill: Readable | null = null
  /** Cuts a spilled client that stopped reading. */
  #stall: NodeJS.Timeout | null = null

  constructor(upstream: Readable, opts: TeeOptions) {
    const parsed = parseDigest(opts.digest)
    if (!parsed) {
      opts.hasher?.dispose()
      throw new TypeError(`Tee: unsupported digest ${JSON.stringify(opts.digest)}`)
    }
    this.#upstream = upstream
    this.#opts = opts
    this.#algorithm = parsed.algorithm
    this.#clientBuffer = opts.clientBuffer ?? 8 * MiB
    this.#timed = Number.isFinite(opts.idleTimeout) && opts.idleTimeout > 0
    opts.sink.signal?.addEventListener(
      'abort',
      () => {
        this.#caching = false
        this.#letGo()
      },
      { once: true },
    )
    this.client = new FillClientStream({
      highWaterMark: MiB,
      read: () => {
        this.#clearStall()
        this.#spill?.resume()
        this.#poke()
      },
      destroy: (err, cb) => {
        this.#clientLeft()
        cb(err)
      },
    })
    this.#hasher = hasherFor(this.#algorithm, opts.hasher)
    const slots = opts.slots
    if (slots !== undefined && upstream instanceof ResponseBody) {
      this.#pool = slots.pool
      this.#budget = slots.budget
      this.client.onRecycle = this.#recycled
      this.#idle = this.#timed ? setTimeout(this.#idleFired, opts.idleTimeout) : null
      if (upstream.takeOver({ chunk: this.#onChunk, end: this.#onEnd, error: this.#onError }, slots.budget)) return
      if (this.#idle) clearTimeout(this.#idle)
      this.#idle = null
      this.#pool = null
      this.#budget = null
      this.client.onRecycle = null
    }
    void this.#run()
  }

  readonly #hasher: Hasher
  // The hand-pumped path (opts.slots, body taken over): chunks come to
  // #onChunk as the socket reads them; slots, not awaits, pace the upstream.
  #pool: SlotPool | null = null
  #budget: SlotBudget | null = null
  #idle: NodeJS.Timeout | null = null
  /** The chunk held back from the client until the blob verified. */
  #held: Buffer | null = null
  /** Chunks for the next file write, and whether one is in flight. */
  #batch: Buffer[] = []
  #batched = 0
  #writing: Promise<void> | null = null
  /** Chunks pushed to the client whose slot it holds until recycle(). */
  readonly #clientOut: Buffer[] = []
  /** The body ended or failed: no more chunks. */
  #over = false

  /** Every holder of a slot chunk lets go through here. */
  #let(chunk: Buffer): void {
    this.#pool?.slotOf(chunk)?.release()
  }

  #hold(chunk: Buffer): void {
    this.#pool?.slotOf(chunk)?.hold()
  }

  readonly #recycled = (chunk: Buffer): void => {
    const i = this.#clientOut.indexOf(chunk)
    if (i < 0) return
    this.#clientOut.splice(i, 1)
    this.#let(chunk)
  }

  /** The client will not write what it holds: its chunks' slots go back. */
  #dropClientChunks(): void {
    if (this.#held) this.#let(this.#held)
    this.#held = null
    for (const c of this.#clientOut.splice(0)) this.#let(c)
  }

  readonly #idleFired = (): void => {
    // Waiting for a slot is waiting for the disk, the hash or the client,
    // which have bounds of their own.
    if (this.#over) return
    if (this.#budget?.waiting) return void this.#idle?.refresh()
    this.#onError(new StalledError(`no upstream data for ${this.#opts.idleTimeout} ms`))
  }

  readonly #onChunk = (chunk: Buffer): void => {
    if (this.#over || chunk.length === 0) return
    const opts = this.#opts
    this.#idle?.refresh()
    this.#received += chunk.length
    const received = this.#received
    if (opts.size !== undefined && received > opts.size) {
      return this.#onError(new IntegrityError({ expected: opts.digest, found: `${this.#algorithm}:?`, expectedSize: opts.size, foundSize: received }))
    }
    if (this.#caching && opts.size === undefined && opts.fits && !opts.fits(received)) {
      this.#stopCaching(new TooLargeError('body of unknown length outgrew the cache'), 'blob outgrew the cache: serving it uncached')
    }
    this.#hasher.update(chunk)
    if (!this.#clientGone && !this.#spill) {
      if (this.#held) this.#sendOut(this.#held)
      this.#held = chunk
      this.#hold(chunk)
    }
    if (this.#caching) {
      this.#hold(chunk)
      this.#batch.push(chunk)
      this.#batched += chunk.length
      if (this.#batched >= WRITE_BATCH) this.#writeBatch()
    }
    if (!this.#clientGone && !this.#spill && this.client.readableLength > this.#clientBuffer) {
      const handed = received - (this.#held?.length ?? 0)
      if (this.#caching && opts.size !== undefined && this.#startSpill(handed)) {
        if (this.#held) this.#let(this.#held)
        this.#held = null
      } else if (this.#timed && !this.#stall) {
        // The client's chunks hold their slots: the upstream waits for it,
        // but not for ever.
        this.#stall = setTimeout(this.#tooSlow, opts.idleTimeout)
      }
    }
  }

  /** A chunk to the client; its slot is held until the client recycles it. */
  #sendOut(chunk: Buffer): void {
    if (this.#pool?.slotOf(chunk)) this.#clientOut.push(chunk)
    this.#send(chunk)
  }

  /** One file write in flight at a time; the next batch gathers meanwhile. */
  #writeBatch(): void {
    if (this.#writing || !this.#caching || this.#batched === 0) return
    const data = this.#batch
    this.#batch = []
    this.#batched = 0
    this.#writing = this.#opts.sink
      .write(data)
      .catch(this.#stopCaching)
      .finally(() => {
        for (const c of data) this.#let(c)
        this.#writing = null
        if (this.#batched >= WRITE_BATCH || (this.#over && this.#batched > 0)) this.#writeBatch()
      })
  }

  #dropBatch(): void {
    for (const c of this.#batch.splice(0)) this.#let(c)
    this.#batched = 0
  }

  readonly #onEnd = (): void => {
    if (this.#over) return
    this.#over = true
    void this.#finishPumped()
  }

  /** Everything was read: throws unless digest and length match, then commits. */
  async #verifyAndCommit(): Promise<void> {
    const opts = this.#opts
    const found = `${this.#algorithm}:${await this.#hasher.digest()}`
    if (found !== opts.digest || (opts.size !== undefined && this.#received !== opts.size)) {
      throw new IntegrityError({ expected: opts.digest, found, expectedSize: opts.size, foundSize: this.#received })
    }
    if (!this.#caching) return
    this.#caching = false
    await opts.sink.commit().catch((err: NodeJS.ErrnoException) => {
      opts.log?.warn('cache commit failed: served uncached', { digest: opts.digest, code: err.code ?? String(err) })
    })
  }

  async #finishPumped(): Promise<void> {
    try {
      this.#writeBatch()
      while (this.#writing) await this.#writing
      await this.#verifyAndCommit()
      if (!this.#clientGone && !this.#spill) {
        const held = this.#held
        this.#held = null
        if (held) this.#sendOut(held)
        this.client.push(null)
      }
      this.#endPumped()
    } catch (err) {
      this.#failPumped(err as Error)
    }
  }

  readonly #onError = (err: Error): void => {
    if (this.#over) return
    this.#over = true
    this.#failPumped(err)
  }

  #failPumped(err: Error): void {
    if (this.#caching) {
      this.#caching = false
      this.#opts.sink.abort(err)
    }
    this.#dropBatch()
    this.#upstream.destroy()
    if (!this.#clientGone) this.client.destroy(err)
    this.#dropClientChunks()
    this.#endPumped()
  }

  #endPumped(): void {
    this.#hasher.dispose()
    if (this.#idle) clearTimeout(this.#idle)
    this.#idle = null
  }

  /**
   * No client and no cache: nobody wants the rest of this blob, so the
   * upstream is let go at once (a stalled one would otherwise hold its
   * socket until the idle timeout).
   */
  #letGo(): void {
    if (!this.#clientGone || this.#caching) return
    const why = new FillCancelledError('no client and no cache left for this blob')
    if (this.#pool !== null) this.#onError(why)
    else this.#upstream.destroy(why)
  }

  #poke(): void {
    const w = this.#wake
    this.#wake = null
    w?.()
  }

  #clearStall(): void {
    if (this.#stall) clearTimeout(this.#stall)
    this.#stall = null
  }

  readonly #tooSlow = (): void => {
    this.#opts.log?.warn('client too slow for a shared fill: disconnecting it', { digest: this.#opts.digest })
    this.client.destroy(new StalledError('client did not read for the fill timeout'))
  }

  #clientLeft(): void {
    const left = !this.#clientGone
    this.#clientGone = true
    this.#clearStall()
    this.#dropClientChunks()
    this.#spill?.destroy()
    const keep = this.#opts.keepWithoutClient
    if (left && this.#caching && keep && !keep(this.#received)) {
      this.#caching = false
      this.#opts.sink.abort(new FillCancelledError('the client left and the fill is not worth finishing'))
    }
    this.#poke()
    this.#letGo()
  }

  /** Hands the client over to the sink's copy from `from` on; false if the sink cannot. */
  #startSpill(from: number): boolean {
    const tail = this.#opts.sink.tail?.(from) ?? null
    if (!tail) return false
    this.#spill = tail
    tail.on('data', (chunk: Buffer) => {
      if (this.#clientGone) return
      this.#opts.onClientBytes?.(chunk.length)
      if (!this.client.push(chunk)) {
        tail.pause()
        if (this.#timed && !this.#stall) this.#stall = setTimeout(this.#tooSlow, this.#opts.idleTimeout)
      }
    })
    tail.once('end', () => {
      if (!this.#clientGone) this.client.push(null)
    })
    tail.once('error', (err) => {
      if (!this.#clientGone) this.client.destroy(err)
    })
    this.#opts.log?.debug('slow client reads the fill back from disk', { digest: this.#opts.digest, from })
    return true
  }

  /** Resolves when the client wants more or is gone; cuts it loose if it stalls. */
  #clientDrained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#timed ? setTimeout(this.#tooSlow, this.#opts.idleTimeout) : null
      this.#wake = () => {
        if (timer) clearTimeout(timer)
        resolve()
      }
    })
  }

  #send(chunk: Buffer): void {
    this.#opts.onClientBytes?.(chunk.length)
    this.client.push(chunk)
  }

  #stopCaching = (err: Error, why = 'cache write failed: serving this blob uncached'): void => {
    if (!this.#caching) return
    this.#caching = false
    this.#dropBatch()
    this.#opts.sink.abort(err)
    this.#letGo()
    this.#opts.log?.warn(why, { digest: this.#opts.digest, code: (err as NodeJS.ErrnoException).code ?? String(err) })
  }

  async #run(): Promise<void> {
    const opts = this.#opts
    const upstream = this.#upstream
    const hasher = this.#hasher
    const it = upstream[Symbol.asyncIterator]()
    let held: Buffer | null = null
    // Disk writes go in batches of WRITE_BATCH (not one per socket read) and
    // overlap the next upstream reads, one write in flight at a time: the
    // disk still paces the upstream, but no longer a round trip per 64 KiB.
    let batch: Buffer[] = []
    let batched = 0
    let writing: Promise<void> | null = null
    const writeBatch = async () => {
      if (writing) await writing
      if (!this.#caching || batched === 0) return
      // One writev of the socket's own buffers: no concatenating copy.
      const data = batch
      batch = []
      batched = 0
      writing = opts.sink.write(data).catch(this.#stopCaching)
    }
    // One idle timer, re-armed per upstream read, rather than a new timer per
    // chunk. It only counts time spent waiting for the upstream: waits for
    // the disk or the client have bounds of their own.
    let awaitingUpstream = false
    const idle = this.#timed
      ? setTimeout(() => {
          if (awaitingUpstream) upstream.destroy(new StalledError(`no upstream data for ${opts.idleTimeout} ms`))
        }, opts.idleTimeout)
      : null
    try {
      for (;;) {
        awaitingUpstream = true
        idle?.refresh()
        const next = await it.next()
        awaitingUpstream = false
        if (next.done) break
        const value = next.value as Buffer | string
        const chunk = typeof value === 'string' ? Buffer.from(value) : value
        if (chunk.length === 0) continue
        this.#received += chunk.length
        const received = this.#received
        if (opts.size !== undefined && received > opts.size) {
          throw new IntegrityError({ expected: opts.digest, found: `${this.#algorithm}:?`, expectedSize: opts.size, foundSize: received })
        }
        if (this.#caching && opts.size === undefined && opts.fits && !opts.fits(received)) {
          this.#stopCaching(new TooLargeError('body of unknown length outgrew the cache'), 'blob outgrew the cache: serving it uncached')
        }
        // By reference: socket chunks are never reused once read.
        hasher.update(chunk)
        if (!this.#clientGone && !this.#spill) {
          if (held) this.#send(held)
          held = chunk
        }
        if (this.#caching) {
          batch.push(chunk)
          batched += chunk.length
          if (batched >= WRITE_BATCH) await writeBatch()
        }
        if (!this.#clientGone && !this.#spill && this.client.readableLength > this.#clientBuffer) {
          // The client continues from the first byte it was not handed, read
          // back from the sink as the writes land.
          const handed = received - (held?.length ?? 0)
          if (this.#caching && opts.size !== undefined && this.#startSpill(handed)) held = null
          else await this.#clientDrained()
        }
        // A hashing thread that fell behind paces the upstream (its ring is bounded).
        const behind = hasher.backlog()
        if (behind) await behind
      }
      await writeBatch()
      if (writing) await writing
      await this.#verifyAndCommit()
      if (!this.#clientGone && !this.#spill) {
        if (held) this.#send(held)
        this.client.push(null)
      }
    } catch (err) {
      if (this.#caching) {
        this.#caching = false // a write still in flight fails quietly
        opts.sink.abort(err as Error)
      }
      upstream.destroy()
      if (!this.#clientGone) this.client.destroy(err as Error)
    } finally {
      hasher.dispose()
      if (idle) clearTimeout(idle)
    }
  }
}
