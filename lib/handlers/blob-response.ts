// Blob responses built by the proxy itself (hits, fills, followers): their
// headers, a blob stream sent with its read buffers recycled, a Range cut
// from a whole, verified blob stream, and the guard that cuts a follower
// whose fill stopped.
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BlobReadStream } from '../cache/read-stream.js'
import { FillClientStream } from '../cache/tee.js'
import type { RequestContext } from '../context.js'
import { rangeNotSatisfiable } from '../errors.js'
import { type ByteRange, parseRange } from '../registry/range.js'
import { RangeSlice } from '../stages/range-slice.js'

/**
 * A Range request answered from a whole, verified blob stream (a fill or a
 * follower): 206 with the slice (its last byte held until the blob verified),
 * 416 when unsatisfiable, the whole blob when the range does not parse or the
 * length is unknown (RFC 9110 §14.2 lets a server ignore Range).
 */
export async function sendRange(ctx: RequestContext, headers: OutgoingHttpHeaders, body: Readable, size: number | undefined): Promise<void> {
  const range = size === undefined ? null : parseRange(ctx.req.headers.range, size)
  if (range === 'unsatisfiable') {
    body.destroy() // a fill goes on without us
    throw rangeNotSatisfiable(size!)
  }
  if (range === null) {
    ctx.res.writeHead(200, headers)
    return pipeline(body, ctx.res)
  }
  ctx.res.writeHead(206, { ...headers, ...partialHeaders(range, size!) })
  await pipeline(body, new RangeSlice(range), ctx.res)
}

export function partialHeaders(range: ByteRange, size: number) {
  return {
    'content-length': String(range.end - range.start + 1),
    'content-range': `bytes ${range.start}-${range.end}/${size}`,
  }
}

export function blobHeaders(digest: string, size: number) {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(size),
    'docker-content-digest': digest,
    'accept-ranges': 'bytes',
    'docker-distribution-api-version': 'registry/2.0',
  }
}

/**
 * pipeline(stream, res) for a blob read: each chunk's buffer goes back to the
 * stream once its socket write completed, so a large blob is served from a
 * few reused buffers rather than a fresh allocation per read, whose garbage
 * costs the main thread much of its time at high rates (docs/benchmarks.md).
 * Destroys both sides on
 * an error or a premature close, and settles when the response finished.
 */
export function sendBlob(stream: Readable, res: ServerResponse): Promise<void> {
  const recycler = stream instanceof BlobReadStream || stream instanceof FillClientStream ? stream : null
  return new Promise<void>((resolve, reject) => {
    let settled = false
    const settle = (err?: Error): void => {
      if (settled) return
      settled = true
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('error', onError)
      res.off('drain', onDrain)
      res.off('finish', onFinish)
      res.off('close', onClose)
      res.off('error', onError)
      if (err === undefined) return resolve()
      stream.destroy()
      res.destroy(err)
      reject(err)
    }
    const onData = (chunk: Buffer): void => {
      const ok = res.write(chunk, recycler ? (err) => err || recycler.recycle(chunk) : undefined)
      if (!ok) stream.pause()
    }
    const onDrain = (): void => void stream.resume()
    const onEnd = (): void => void res.end()
    const onFinish = (): void => settle()
    const onError = (err: Error): void => settle(err)
    const onClose = (): void =>
      settle(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))
    // A client gone before now emitted its 'close' already: waiting for it
    // would hold the stream, and the blob's file, for ever.
    if (res.destroyed) return onClose()
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('error', onError)
    res.on('drain', onDrain)
    res.once('finish', onFinish)
    res.once('close', onClose)
    res.once('error', onError)
    stream.resume()
  })
}

/**
 * Calls onStall when the fill being followed has written nothing for `ms`
 * while this follower had read all of it and its client was keeping up.
 */
export function guardProgress(f: { body: Readable; idleMs(): number }, res: Writable, ms: number, onStall: () => void): () => void {
  if (!Number.isFinite(ms) || ms <= 0) return () => {}
  const timer = setInterval(() => {
    if (!res.writableNeedDrain && f.body.readableLength === 0 && f.idleMs() >= ms) onStall()
  }, Math.max(50, Math.min(1000, ms / 4)))
  timer.unref()
  return () => clearInterval(timer)
}
