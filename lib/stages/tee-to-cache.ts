// Body stage: one upstream blob body → a cache sink and a client stream.
//
// Unlike the other stages this is not a Transform: in a Transform the client
// paces the upstream, and a fill must not stall because one client is slow or
// gone (others may be following it). So the upstream is read with backpressure
// from the sink (the disk) only; the same chunks are pushed to the client
// stream, whose buffer is bounded (clientBuffer, 8 MiB): past it the upstream
// waits for the client, and a client that does not drain within idleTimeout
// is cut loose. A destroyed client stream costs nothing: the fill goes on at
// disk speed.
//
// The client never receives a complete wrong blob: the most recent chunk is
// held back until the SHA-256 and length matched and the sink committed; on a
// mismatch or an upstream error the client stream errors and the sink aborts.
// A sink write failure (disk full, EIO…) only stops caching: the client still
// gets every byte, still verified.
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { Logger } from '../log.js'
import { integrityError, parseDigest } from './verify-digest.js'

export interface CacheSink {
  /** Appends a chunk; rejects on a disk error (caching stops, serving does not). */
  write(chunk: Buffer): Promise<void>
  /** Every byte matched: make it visible. Cleans up after itself if it rejects. */
  commit(): Promise<void>
  /** The fill will not be committed: remove what was written. */
  abort(reason: Error): void
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
  log?: Logger
}

const MiB = 1024 * 1024

function timeoutError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' })
}

export function teeToCache(upstream: Readable, opts: TeeOptions): Readable {
  const parsed = parseDigest(opts.digest)
  if (!parsed) throw new TypeError(`teeToCache: unsupported digest ${JSON.stringify(opts.digest)}`)
  const clientBuffer = opts.clientBuffer ?? 8 * MiB
  const timed = Number.isFinite(opts.idleTimeout) && opts.idleTimeout > 0
  let clientGone = false
  let wake: (() => void) | null = null
  const poke = () => {
    const w = wake
    wake = null
    w?.()
  }
  const client = new Readable({
    highWaterMark: MiB,
    read: poke,
    destroy: (err, cb) => {
      clientGone = true
      poke()
      cb(err)
    },
  })

  /** Resolves when the client wants more or is gone; cuts it loose if it stalls. */
  const clientDrained = () =>
    new Promise<void>((resolve) => {
      const timer = timed
        ? setTimeout(() => {
            opts.log?.warn('client too slow for a shared fill: disconnecting it', { digest: opts.digest })
            client.destroy(timeoutError('client did not read for the fill timeout'))
          }, opts.idleTimeout)
        : null
      wake = () => {
        if (timer) clearTimeout(timer)
        resolve()
      }
    })

  const run = async () => {
    const hash = createHash(parsed.algorithm)
    const it = upstream[Symbol.asyncIterator]()
    let received = 0
    let held: Buffer | null = null
    let caching = true
    const send = (chunk: Buffer) => {
      opts.onClientBytes?.(chunk.length)
      client.push(chunk)
    }
    try {
      for (;;) {
        const timer = timed
          ? setTimeout(() => upstream.destroy(timeoutError(`no upstream data for ${opts.idleTimeout} ms`)), opts.idleTimeout)
          : null
        const next = await it.next().finally(() => timer && clearTimeout(timer))
        if (next.done) break
        const value = next.value as Buffer | string
        const chunk = typeof value === 'string' ? Buffer.from(value) : value
        if (chunk.length === 0) continue
        received += chunk.length
        hash.update(chunk)
        if (opts.size !== undefined && received > opts.size) {
          throw integrityError({ expected: opts.digest, found: 'sha256:?', expectedSize: opts.size, foundSize: received })
        }
        if (!clientGone) {
          if (held) send(held)
          held = chunk
        }
        if (caching) {
          try {
            await opts.sink.write(chunk)
          } catch (err) {
            caching = false
            opts.sink.abort(err as Error)
            opts.log?.warn('cache write failed: serving this blob uncached', {
              digest: opts.digest,
              code: (err as NodeJS.ErrnoException).code ?? String(err),
            })
          }
        }
        if (!clientGone && client.readableLength > clientBuffer) await clientDrained()
      }
      const found = `${parsed.algorithm}:${hash.digest('hex')}`
      if (found !== opts.digest || (opts.size !== undefined && received !== opts.size)) {
        throw integrityError({ expected: opts.digest, found, expectedSize: opts.size, foundSize: received })
      }
      if (caching) {
        caching = false
        await opts.sink.commit().catch((err: NodeJS.ErrnoException) => {
          opts.log?.warn('cache commit failed: served uncached', { digest: opts.digest, code: err.code ?? String(err) })
        })
      }
      if (!clientGone) {
        if (held) send(held)
        client.push(null)
      }
    } catch (err) {
      if (caching) opts.sink.abort(err as Error)
      upstream.destroy()
      if (!clientGone) client.destroy(err as Error)
    }
  }
  void run()
  return client
}
