// Blob responses built by the proxy itself (hits, fills, followers): their
// headers, and a Range cut from a whole, verified blob stream.
import type { OutgoingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
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
