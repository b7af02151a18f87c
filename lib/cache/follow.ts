// Followers: claimants that found someone else filling the same digest. They
// stream the bytes as they land in the temp file (never waiting for the end),
// and never complete a wrong blob:
//
// - In this process the writer announces progress by events, and the
//   follower reads through the writer's own file handle. It does not hash:
//   the writer hashed these very bytes on their way into the file, and the
//   follower's final byte waits for the writer's commit, which follows the
//   digest check (Fill.committedGrowth(), as for the writer's own client when
//   it spills to disk). So fifty clients of one cold blob cost one SHA-256,
//   not fifty-one.
// - For a writer in another process (or a fill that committed while we were
//   claiming) the follower verifies like a hit: everything it sends is hashed
//   and the last chunk is released only after the digest matched.
//   It opens tmp/<src>-<hex> (fills are per upstream), learns the
//   length from the sidecar, and polls fstat every 25 ms while it has caught
//   up (it reads without pausing while bytes are there). After the rename the
//   same inode is blobs/…/<hex>, so the open handle simply reads on. A temp
//   file that is unlinked (nlink 0) before it is complete means the fill
//   failed; one whose owner file names a process that is gone (owner.ts,
//   checked every OWNER_CHECK_MS) or that has not changed for staleAfter ms
//   means its writer died.
import { constants, fstatSync } from 'node:fs'
import { open, stat, unlink, type FileHandle } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '../log.js'
import type { Hasher } from '../integrity/hash-worker.js'
import type { IntegrityError } from '../integrity/integrity-error.js'
import type { Fill } from './fill.js'
import type { CachePaths } from './paths.js'
import { openBlob } from './open-blob.js'
import { ownerState } from './owner.js'
import { readSmall } from './safe-files.js'
import { BlobReadStream, type Growth } from './read-stream.js'
import { ownHandle, type HandleRef } from './shared-handle.js'
import type { FillFollower } from './types.js'
import { FillFailedError, StalledError } from './errors.js'

export interface FollowContext {
  paths: CachePaths
  hasher: () => Hasher
  /** ms without change after which a foreign temp file counts as abandoned. */
  staleAfter: number
  pollInterval: number
  log: Logger
  onBytes: (n: number) => void
  /** A committed file failed verification (inode given, to delete only that file). */
  onCorrupt: (hex: string, ino: number, err: IntegrityError) => void
}

/** How often a follower of another process asks whether that process still lives. */
const OWNER_CHECK_MS = 500

/** 'retry': the situation changed under us (lock freed, file gone): claim again. */
export type FollowResult = FillFollower | null | 'retry'

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code
}

interface FollowerOptions {
  /** ms since the fill last wrote; absent: complete. */
  idleMs?: () => number
  /** Absent: the file is complete. */
  growth?: Growth
  /** The committed file's inode: a mismatch deletes that file. */
  ino?: number
  /** Hash what is sent (default); false only where the writer's own hash covers it. */
  verify?: boolean
}

function follower(ctx: FollowContext, hex: string, handle: HandleRef, size: number, o: FollowerOptions = {}): FillFollower {
  const ino = o.ino
  const body = new BlobReadStream({
    open: async () => ({ handle, size }),
    growth: o.growth,
    verify: o.verify === false ? undefined : { hex, hasher: ctx.hasher },
    onBytes: ctx.onBytes,
    onMismatch: ino === undefined ? undefined : (err) => ctx.onCorrupt(hex, ino, err),
  })
  return { role: 'follower', size, body, idleMs: o.idleMs ?? (() => 0) }
}

/** Follows a committed blob (the fill finished while we were claiming). */
export async function followCommitted(ctx: FollowContext, hex: string): Promise<FollowResult> {
  try {
    const { handle, size, ino } = await openBlob(ctx.paths.blob(hex), `sha256:${hex}`, undefined)
    return follower(ctx, hex, handle, size, { ino })
  } catch (err) {
    if (code(err) === 'ENOENT') return 'retry'
    throw err
  }
}

/** Follows a fill of this process. */
export async function followInflight(ctx: FollowContext, fill: Fill): Promise<FollowResult> {
  for (;;) {
    await fill.until((f) => f.state === 'filling' && f.size !== undefined)
    switch (fill.state) {
      case 'declined':
        return 'retry' // committed elsewhere, or another process fills: look again
      case 'failed':
        // Abandoned (upstream said no) or failed: go upstream, uncached.
        return null
      case 'committed':
        return followCommitted(ctx, fill.hex)
      default: {
        const handle = fill.acquire()
        if (!handle) continue // settled in between: look again
        // An empty body has no final byte to hold back: that one is hashed (for free).
        const f = follower(ctx, fill.hex, handle, fill.size!, {
          growth: fill.committedGrowth(),
          verify: fill.size === 0,
          idleMs: () => (fill.state === 'committed' ? 0 : Date.now() - fill.lastProgress),
        })
        fill.followers++
        f.body.once('close', () => fill.followers--)
        return f
      }
    }
  }
}

async function readSidecar(path: string): Promise<number | null> {
  const text = await readSmall(path, 20)
  return text !== null && /^\d{1,16}$/.test(text) ? Number(text) : null
}

/** Unlinks an abandoned temp file, unless it was replaced meanwhile. */
async function breakStaleLock(ctx: FollowContext, hex: string, key: string, ino: number): Promise<void> {
  try {
    const st = await stat(ctx.paths.temp(key))
    if (st.ino !== ino) return
    await unlink(ctx.paths.temp(key))
    await unlink(ctx.paths.sidecar(key)).catch(() => {})
    ctx.log.info('cache: removed an abandoned fill of another process', { digest: `sha256:${hex}` })
  } catch {
    // gone already
  }
}

/** Follows a fill (tmp/<key>) of another process sharing the cache dir. */
export async function followForeign(ctx: FollowContext, hex: string, key: string): Promise<FollowResult> {
  let fh: FileHandle
  try {
    fh = await open(ctx.paths.temp(key), constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (err) {
    if (code(err) === 'ENOENT') return 'retry'
    throw err
  }
  let handedOver = false
  try {
    let st = await fh.stat()
    let lastSize = st.size
    let lastChange = st.mtimeMs
    let ownerChecked = 0
    for (;;) {
      let dead = false
      if (Date.now() - ownerChecked >= OWNER_CHECK_MS) {
        ownerChecked = Date.now()
        dead = (await ownerState(ctx.paths.owner(key))) === 'dead'
      }
      if (dead || Date.now() - lastChange > ctx.staleAfter) {
        await breakStaleLock(ctx, hex, key, st.ino)
        return 'retry'
      }
      const blob = await stat(ctx.paths.blob(hex)).catch(() => null)
      if (blob && blob.ino === st.ino && blob.dev === st.dev) {
        handedOver = true // committed: the inode we hold is the blob
        return follower(ctx, hex, ownHandle(fh), blob.size, { ino: blob.ino })
      }
      if (st.nlink === 0) return null // failed or abandoned
      const size = await readSidecar(ctx.paths.sidecar(key))
      if (size !== null) {
        handedOver = true
        const growth = new PollGrowth(fh, size, st, ctx, ctx.paths.owner(key))
        return follower(ctx, hex, ownHandle(fh), size, { growth, idleMs: () => growth.idleMs() })
      }
      await sleep(ctx.pollInterval)
      st = await fh.stat()
      if (st.size !== lastSize) {
        lastSize = st.size
        lastChange = Date.now()
      }
    }
  } finally {
    if (!handedOver) await fh.close()
  }
}

/** Growth of a file written by another process, seen through fstat. */
class PollGrowth implements Growth {
  readonly #fh: FileHandle
  readonly #expected: number
  readonly #ctx: FollowContext
  readonly #ownerPath: string
  #size: number
  #nlink: number
  #lastChange = Date.now()
  #ownerChecked = Date.now()
  #error: Error | null = null

  constructor(fh: FileHandle, expected: number, st: { size: number; nlink: number }, ctx: FollowContext, ownerPath: string) {
    this.#fh = fh
    this.#expected = expected
    this.#ctx = ctx
    this.#ownerPath = ownerPath
    this.#size = st.size
    this.#nlink = st.nlink
  }

  available(): number {
    return this.#size
  }

  /** ms since the other process last wrote to the file (its mtime), 0 once complete. */
  idleMs(): number {
    if (this.#size >= this.#expected) return 0
    try {
      return Math.max(0, Date.now() - fstatSync(this.#fh.fd).mtimeMs)
    } catch {
      return Infinity // closed: nothing more will come through it
    }
  }

  failure(): Error | null {
    if (this.#error) return this.#error
    if (this.#size >= this.#expected) return null
    if (this.#nlink === 0) {
      return new FillFailedError('the fill being followed (another process) failed')
    }
    if (Date.now() - this.#lastChange > this.#ctx.staleAfter) {
      return new StalledError('the fill being followed (another process) stalled')
    }
    return null
  }

  wait(cb: () => void): () => Promise<void> {
    let cancelled = false
    let inflight: Promise<void> | null = null
    let timer: NodeJS.Timeout | null = null
    const poll = () => {
      timer = null
      inflight = this.#fh.stat().then(
        async (st) => {
          const changed = st.size !== this.#size || st.nlink !== this.#nlink
          this.#size = st.size
          this.#nlink = st.nlink
          if (changed) this.#lastChange = Date.now()
          else if (Date.now() - this.#ownerChecked >= OWNER_CHECK_MS && st.size < this.#expected) {
            this.#ownerChecked = Date.now()
            if ((await ownerState(this.#ownerPath)) === 'dead') {
              this.#error = new FillFailedError('the fill being followed (another process) died')
            }
          }
          inflight = null
          if (cancelled) return
          if (changed || this.failure()) cb()
          else timer = setTimeout(poll, this.#ctx.pollInterval)
        },
        (err: Error) => {
          inflight = null
          this.#error = err
          if (!cancelled) cb()
        },
      )
    }
    timer = setTimeout(poll, this.#ctx.pollInterval)
    return async () => {
      cancelled = true
      if (timer) clearTimeout(timer)
      await inflight
    }
  }
}
