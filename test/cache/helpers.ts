// Shared bits for the cache tests (not a test file itself).
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { BlobCache } from '../../lib/cache/blob-cache.js'
import type { BlobCacheOptions, FillClaim, FillFollower } from '../../lib/cache/types.js'
import { silentLogger } from '../../lib/log.js'
import { Metrics } from '../../lib/metrics.js'

export interface TestBlob {
  bytes: Buffer
  hex: string
  digest: string
}

export function makeBlob(size: number): TestBlob {
  const bytes = randomBytes(size)
  const hex = createHash('sha256').update(bytes).digest('hex')
  return { bytes, hex, digest: `sha256:${hex}` }
}

export async function openCache(dir: string, opts: Partial<BlobCacheOptions> = {}): Promise<BlobCache> {
  return BlobCache.open({
    dir,
    maxSize: 0,
    verifyOnServe: true,
    fillTimeout: 5000,
    log: silentLogger,
    metrics: new Metrics(),
    ...opts,
  })
}

export interface BodyOptions {
  chunk?: number
  /** ms between chunks */
  delay?: number
  /** destroy with an error after this many bytes */
  failAt?: number
  /** resolves before each chunk after this many bytes is sent (lets a test act mid-body) */
  gate?: { at: number; open: Promise<void> }
}

/** An upstream body: the bytes in chunks, optionally slow or dying midway. */
export function upstreamBody(bytes: Buffer, opts: BodyOptions = {}): Readable {
  const chunk = opts.chunk ?? 64 * 1024
  let pos = 0
  return new Readable({
    highWaterMark: chunk,
    read() {
      void (async () => {
        if (opts.gate && pos >= opts.gate.at) await opts.gate.open
        if (opts.delay) await sleep(opts.delay)
        if (opts.failAt !== undefined && pos >= opts.failAt) {
          this.destroy(Object.assign(new Error('upstream reset'), { code: 'ECONNRESET' }))
          return
        }
        if (pos >= bytes.length) return void this.push(null)
        const end = Math.min(bytes.length, pos + chunk, opts.failAt ?? Infinity)
        const part = bytes.subarray(pos, end)
        pos = end
        this.push(part)
      })()
    },
  })
}

export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const c of stream) parts.push(c as Buffer)
  return Buffer.concat(parts)
}

/** Collects what arrived before the stream errored. */
export async function collectUntilError(stream: Readable): Promise<{ bytes: Buffer; error: (Error & { code?: string }) | null }> {
  const parts: Buffer[] = []
  try {
    for await (const c of stream) parts.push(c as Buffer)
    return { bytes: Buffer.concat(parts), error: null }
  } catch (err) {
    return { bytes: Buffer.concat(parts), error: err as Error & { code?: string } }
  }
}

export function fdCount(): number {
  return readdirSync('/proc/self/fd').length
}

/** Lets pending closes and unlinks run. */
export async function settle(ms = 50): Promise<void> {
  await sleep(ms)
  await new Promise((r) => setImmediate(r))
}

export function asWriter(c: FillClaim | FillFollower | null): FillClaim {
  if (!c || c.role !== 'writer') throw new Error(`expected a writer claim, got ${c ? c.role : 'null'}`)
  return c
}

export function asFollower(c: FillClaim | FillFollower | null): FillFollower {
  if (!c || c.role !== 'follower') throw new Error(`expected a follower, got ${c ? c.role : 'null'}`)
  return c
}

/** Claims and fills a blob to its commit. */
export async function putBlob(cache: BlobCache, blob: TestBlob): Promise<void> {
  const writer = asWriter(await cache.claim(blob.digest))
  await collect(writer.fill(upstreamBody(blob.bytes), blob.bytes.length))
}

export function blobPath(dir: string, blob: TestBlob): string {
  return `${dir}/blobs/sha256/${blob.hex.slice(0, 2)}/${blob.hex}`
}
