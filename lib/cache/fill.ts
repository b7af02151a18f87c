// One fill: the disk side of a cache miss for one upstream, from claim to
// commit or cleanup.
//
//   opening ──wx ok──▶ claimed ──start(size)──▶ filling ──commit()──▶ committed
//      │                  │                        │
//      │                  └──────── abort() ───────┴──────────────▶ failed
//      └─blob on disk from this upstream, or EEXIST (another process fills)──▶ declined
//
// The temp file is opened with 'wx' (O_CREAT|O_EXCL): creating it IS the
// single-flight lock, across processes too. The fill is the sink of the
// tee (tee.ts, which hashes and verifies); here bytes are appended,
// progress is announced to in-process followers (no polling), and on commit
// the file is renamed into blobs/ (over a copy another upstream delivered, if
// there is one: same digest, same bytes), the upstream is added to the blob's
// origins, and the blob is indexed. Every failure path unlinks the
// temp file — but only while it is still ours (same inode), so a fill whose
// lock was broken as stale never removes or commits someone else's file.
import { EventEmitter } from 'node:events'
import { constants } from 'node:fs'
import { mkdir, open, rename, stat, unlink } from 'node:fs/promises'
import type { Logger } from '../log.js'
import type { CacheSink } from './tee.js'
import type { BlobIndex } from './blob-index.js'
import type { BlobOrigins } from './origins.js'
import { DIR_MODE, FILE_MODE, fillKey, type CachePaths } from './paths.js'
import { writeFresh } from './safe-files.js'
import { BlobReadStream, type Growth } from './read-stream.js'
import type { Readable } from 'node:stream'
import { ownerRecord } from './owner.js'
import { SharedHandle, type HandleRef } from './shared-handle.js'
import { FillFailedError } from './errors.js'

export type FillState = 'opening' | 'claimed' | 'filling' | 'committed' | 'failed' | 'declined'

export interface FillDeps {
  paths: CachePaths
  index: BlobIndex
  origins: BlobOrigins
  log: Logger
  /** The fill reached a final state (committed, failed, declined). */
  onSettled: (fill: Fill) => void
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err)
}

export class Fill extends EventEmitter implements CacheSink {
  readonly hex: string
  /** The upstream's source id (paths.ts). */
  readonly sid: string
  /** Its name in tmp/: fillKey(sid, hex). */
  readonly key: string
  state: FillState = 'opening'
  /** Expected length, once the upstream answered (undefined: not announced). */
  size: number | undefined
  /** Bytes on disk, contiguous from 0. */
  written = 0
  error: Error | null = null
  /** In-process followers reading this fill now. */
  followers = 0
  /** When the fill last started or wrote (ms epoch): how followers tell a stalled fill. */
  lastProgress = Date.now()
  /** Set when open() found the blob already committed (by another process). */
  onDisk: { size: number; ino: number } | null = null
  readonly #deps: FillDeps
  #shared: SharedHandle | null = null
  #mine: HandleRef | null = null
  #ino = -1
  #sidecar: Promise<void> = Promise.resolve()
  #owner: Promise<void> = Promise.resolve()
  readonly #aborted = new AbortController()
  #cleanup: Promise<void> = Promise.resolve()

  constructor(hex: string, sid: string, deps: FillDeps) {
    super()
    this.setMaxListeners(0) // one listener per follower
    this.hex = hex
    this.sid = sid
    this.key = fillKey(sid, hex)
    this.#deps = deps
  }

  /**
   * Takes the lock: 'writer' when we are the one to fetch, 'committed' when
   * the blob is on disk already, delivered by this upstream (onDisk),
   * 'locked' when another process fills it from this upstream.
   */
  async open(): Promise<'writer' | 'committed' | 'locked'> {
    const { paths } = this.#deps
    const st = await stat(paths.blob(this.hex)).catch(() => null)
    if (st && (await this.#deps.origins.has(this.hex, this.sid))) {
      this.onDisk = { size: st.size, ino: st.ino }
      this.#set('declined')
      return 'committed'
    }
    try {
      const { O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW } = constants
      const fh = await open(paths.temp(this.key), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, FILE_MODE)
      try {
        this.#ino = (await fh.stat()).ino
      } catch (err) {
        await fh.close()
        await unlink(paths.temp(this.key)).catch(() => {})
        throw err
      }
      this.#shared = new SharedHandle(fh)
      this.#mine = this.#shared.acquire()
      // Who holds the lock, so that a crash of this process is told from a
      // slow fill at once (owner.ts). Best effort: without it, staleness decides.
      this.#owner = writeFresh(paths.owner(this.key), ownerRecord()).catch((err) =>
        this.#deps.log.debug('cache owner file not written', { code: errCode(err) }),
      )
      this.#set('claimed')
      return 'writer'
    } catch (err) {
      if (errCode(err) === 'EEXIST') {
        this.#set('declined')
        return 'locked'
      }
      this.#fail(err as Error)
      throw err
    }
  }

  /** The upstream answered 200 with this length: followers may start. */
  start(size: number | undefined): void {
    if (this.state !== 'claimed') return
    this.size = size
    this.lastProgress = Date.now()
    const { paths } = this.#deps
    if (size !== undefined) {
      // For followers in other processes; written aside and renamed so that
      // a reader never sees half a number.
      this.#sidecar = writeFresh(paths.sidecarTemp(this.key), String(size))
        .then(() => rename(paths.sidecarTemp(this.key), paths.sidecar(this.key)))
        .catch((err) => this.#deps.log.debug('cache sidecar not written', { code: errCode(err) }))
    }
    this.#set('filling')
  }

  async write(chunks: Buffer[]): Promise<void> {
    if (this.state !== 'filling' || !this.#mine) throw this.error ?? new Error(`fill is ${this.state}`)
    const fh = this.#mine.fh
    let pending = chunks
    let at = this.written
    while (pending.length > 0) {
      let { bytesWritten } = await fh.writev(pending, at)
      if (bytesWritten === 0) throw new Error('cache write made no progress')
      at += bytesWritten
      // A short write: drop what went out, resume inside the chunk it stopped in.
      let i = 0
      while (i < pending.length && bytesWritten >= pending[i]!.length) bytesWritten -= pending[i++]!.length
      pending = pending.slice(i)
      if (bytesWritten > 0) pending[0] = pending[0]!.subarray(bytesWritten)
    }
    if (this.state !== 'filling') throw this.error ?? new Error(`fill is ${this.state}`)
    this.written = at
    this.lastProgress = Date.now()
    this.emit('change')
  }

  async commit(): Promise<void> {
    if (this.state !== 'filling' || !this.#mine) throw this.error ?? new Error(`fill is ${this.state}`)
    const { paths, index, origins } = this.#deps
    try {
      if (!index.fits(this.written)) throw new Error('blob larger than the whole cache')
      await this.#assertStillOurs()
      await mkdir(paths.shard(this.hex), { recursive: true, mode: DIR_MODE })
      await rename(paths.temp(this.key), paths.blob(this.hex))
      await origins.add(this.hex, this.sid)
    } catch (err) {
      this.abort(err as Error)
      throw err
    }
    index.add(this.hex, this.written, this.#ino)
    // close() may have aborted us while the rename ran: the blob is in place
    // and verified either way, and #fail already released the handle.
    if (this.state !== 'filling') return
    const mine = this.#mine
    this.#mine = null
    // The sidecar and owner record go before commit() resolves, so by the
    // time the writer's client has its last byte tmp/ holds nothing of this
    // blob; the file handle closes when the last follower lets go.
    const tidy = Promise.all([
      this.#sidecar.then(() => unlink(paths.sidecar(this.key))).catch(() => {}),
      this.#owner.then(() => unlink(paths.owner(this.key))).catch(() => {}),
    ]).then(() => {})
    this.#cleanup = Promise.all([mine.release(), tidy]).then(() => {})
    this.#set('committed')
    await tidy
  }

  abort(reason: Error): void {
    if (this.state === 'committed' || this.state === 'failed' || this.state === 'declined') return
    this.#fail(reason)
  }

  /** Aborts when this fill will not be committed (CacheSink.signal). */
  get signal(): AbortSignal {
    return this.#aborted.signal
  }

  #fail(reason: Error): void {
    const { log } = this.#deps
    const hadLock = this.#mine !== null
    const mine = this.#mine
    this.#mine = null
    this.error = reason
    this.#aborted.abort(reason)
    if (hadLock) {
      log.debug('cache fill aborted', { digest: `sha256:${this.hex}`, reason: reason.message })
      this.#cleanup = this.#removeTemp(mine)
    }
    this.#set('failed')
  }

  async #removeTemp(mine: HandleRef | null): Promise<void> {
    const { paths } = this.#deps
    await this.#sidecar
    await this.#owner
    let ours = true
    try {
      await this.#assertStillOurs()
      await unlink(paths.temp(this.key))
    } catch (err) {
      // Gone already (deleted behind our back): the sidecar is still ours to
      // remove. Replaced by another process's fill: both are theirs.
      ours = errCode(err) === 'ENOENT'
    }
    if (ours) await Promise.all([unlink(paths.sidecar(this.key)).catch(() => {}), unlink(paths.owner(this.key)).catch(() => {})])
    await mine?.release()
  }

  async #assertStillOurs(): Promise<void> {
    const st = await stat(this.#deps.paths.temp(this.key))
    if (st.ino !== this.#ino) throw new Error('fill lock was broken as stale by another process')
  }

  #set(state: FillState): void {
    this.state = state
    this.emit('change')
    if (state === 'committed' || state === 'failed' || state === 'declined') this.#deps.onSettled(this)
  }

  /** Resolves once the fill reached one of these states (or any final one). */
  until(ready: (fill: Fill) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (ready(this) || this.state === 'committed' || this.state === 'failed' || this.state === 'declined') {
          this.off('change', check)
          resolve()
        }
      }
      this.on('change', check)
      check()
    })
  }

  /** A reference to the temp file for an in-process follower; null once closed. */
  acquire(): HandleRef | null {
    return this.state === 'filling' ? (this.#shared?.acquire() ?? null) : null
  }

  /**
   * The bytes from `start` on, read back from the temp file as they land, for
   * the writer's own client once it is slower than the disk (tee.ts
   * spills it here). The final byte is released only after the commit, which
   * follows the digest check; the stream errors if the fill fails.
   */
  tail(start: number): Readable | null {
    const size = this.size
    if (this.state !== 'filling' || size === undefined || start < 0 || start >= size) return null
    const handle = this.acquire()
    if (!handle) return null
    return new BlobReadStream({
      open: async () => ({ handle, size }),
      range: { start, end: size - 1 },
      growth: this.committedGrowth(),
    })
  }

  /**
   * Like growth(), but the final byte is available only once the fill has
   * committed, that is after the writer's digest check: a reader of this
   * process's own temp file needs no hash of its own to never complete a
   * wrong blob. (The bytes it reads are the ones the writer hashed on their
   * way into the file.)
   */
  committedGrowth(): Growth {
    const growth = this.growth()
    return {
      available: () => (this.state === 'committed' ? this.written : Math.min(this.written, Math.max(0, (this.size ?? 1) - 1))),
      failure: () => growth.failure(),
      wait: (cb) => growth.wait(cb),
    }
  }

  /** Progress as seen by in-process followers: written bytes, via events. */
  growth(): Growth {
    return {
      available: () => this.written,
      failure: () =>
        this.state === 'failed'
          ? new FillFailedError(`the fill being followed failed: ${this.error?.message ?? 'unknown'}`, { cause: this.error })
          : null,
      wait: (cb) => {
        const once = () => {
          this.off('change', once)
          cb()
        }
        this.on('change', once)
        return async () => void this.off('change', once)
      },
    }
  }

  /** Resolves when every file operation of this fill is done (for close()). */
  settled(): Promise<void> {
    return this.#cleanup
  }
}
