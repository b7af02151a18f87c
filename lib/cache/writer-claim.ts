// The claim handed to the one request that fetches a missing blob upstream.
// fill() tees the upstream body into the fill (tee.ts) and
// returns the client's stream; abandon() frees the lock when the upstream did
// not answer 200. A claim left unused for fillTimeout (a handler bug) frees
// itself, and a body that will not be cached (too big for the cache, claim
// expired, cache closed) is still verified on its way to the client.
//
// When its client leaves, a fill goes on if that client wanted the blob to
// its end (a whole pull, or a Range to the last byte: runtimes resume such a
// pull with Range), if someone else follows it, or if half of the blob is
// already in. A client that asked for a closed range (a one-byte probe) does
// not make the proxy fetch and store the whole blob after it left.
//
// fillInBackground() is the same fill with no client at all (the whole blob
// behind a Range that was passed through): it is read to its end at disk
// speed and counted apart.
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from '../log.js'
import type { Hasher } from '../integrity/hash-worker.js'
import { Tee } from './tee.js'
import type { SlotPool } from '../upstream/slot-pool.js'
import { VerifyDigest } from '../integrity/verify-digest.js'
import type { Fill } from './fill.js'
import type { FillClaim } from './types.js'

export interface WriterClaimOptions {
  digest: string
  fillTimeout: number
  /** Why a blob of this size will not be cached (`larger_than_cache_max_size`, `closing`), or undefined if it will. */
  refuses: (size: number | undefined) => string | undefined
  /** The claim turned into a fill, or was abandoned (a cache miss either way). */
  onMiss?: () => void
  /** The body is served from the upstream, not cached, for this reason. */
  onUncached?: (reason: string) => void
  /** Would this many bytes still fit in the cache (for bodies of unknown length)? */
  fits: (bytes: number) => boolean
  /** The writer's client left: was the fill kept going or dropped? */
  onClientGone?: (kept: boolean) => void
  /** A fill with no client settled: committed or not. */
  onBackground?: (committed: boolean) => void
  onClientBytes: (n: number) => void
  /** SHA-256 for a body of this size (a worker thread for big ones). */
  hasher?: (size: number | undefined) => Hasher
  /** Slots for a fill whose client recycles its chunks, or has none (tee.ts). */
  slots?: SlotPool | undefined
  log: Logger
}

/** Slots one fill may hold: room for the client's buffer, a file write and the hash in flight. */
const SLOTS_PER_FILL = 16

/** Verified pass-through for a body that will not be cached. */
export function uncached(body: Readable, digest: string, size: number | undefined, hasher?: Hasher): Readable {
  const verify = new VerifyDigest({ digest, size, hasher })
  pipeline(body, verify).catch(() => {}) // errors surface on `verify`
  return verify
}

export function writerClaim(fill: Fill, opts: WriterClaimOptions): FillClaim {
  const { digest, fillTimeout, log } = opts
  let used = false
  const timer =
    Number.isFinite(fillTimeout) && fillTimeout > 0
      ? setTimeout(() => {
          used = true
          log.warn('cache claim neither filled nor abandoned: released', { digest })
          fill.abort(new Error('claim expired'))
        }, fillTimeout)
      : null
  timer?.unref()
  const use = () => {
    const first = !used
    used = true
    if (timer) clearTimeout(timer)
    return first
  }
  let notCached: string | undefined
  /** The Tee's client stream, or the verified uncached body; keepWithoutClient absent: always kept. */
  const start = (body: Readable, size: number | undefined, keepWithoutClient?: (received: number) => boolean, recycles = false): Readable => {
    const hasher = opts.hasher?.(size)
    if (!use()) return uncached(body, digest, size, hasher)
    const refused = opts.refuses(size)
    if (refused !== undefined) {
      fill.abort(new Error('not cacheable: ' + refused))
      notCached = refused
      opts.onUncached?.(refused)
      log.info('blob not cached: served from the upstream', { digest, size, reason: refused })
      body.on('data', (c: Buffer) => opts.onClientBytes(c.length))
      return uncached(body, digest, size, hasher)
    }
    opts.onMiss?.()
    fill.start(size)
    return new Tee(body, {
      digest,
      size,
      sink: fill,
      idleTimeout: fillTimeout,
      onClientBytes: opts.onClientBytes,
      hasher,
      keepWithoutClient,
      fits: opts.fits,
      slots: recycles && opts.slots ? { pool: opts.slots, budget: opts.slots.budget(SLOTS_PER_FILL) } : undefined,
      log,
    }).client
  }
  return {
    role: 'writer',
    get uncached() {
      return notCached
    },
    fill: (body, size, wantsTail = true, recycles = false) =>
      start(
        body,
        size,
        (received) => {
        const kept = wantsTail || fill.followers > 0 || (size !== undefined && received * 2 >= size)
        opts.onClientGone?.(kept)
        log.info(kept ? 'client left: fill goes on' : 'client left early: fill dropped', {
          digest,
          received,
          size,
          wantsTail,
          followers: fill.followers,
        })
        return kept
      },
        recycles,
      ),
    fillInBackground: async (body, size) => {
      // Slots are safe: the client is gone before the first chunk.
      const client = start(body, size, undefined, true)
      // No client: the Tee pushes nothing to it and the fill runs at disk
      // speed (an uncached body is let go with it).
      client.on('error', () => {})
      client.destroy()
      await fill.until(() => false)
      const committed = fill.state === 'committed'
      opts.onBackground?.(committed)
      log.info(committed ? 'background fill committed' : 'background fill failed', {
        digest,
        size,
        ...(fill.error ? { reason: fill.error.message } : {}),
      })
      return committed
    },
    abandon: () => {
      if (!use()) return
      opts.onMiss?.()
      fill.abort(new Error('abandoned: upstream did not answer 200'))
    },
  }
}
