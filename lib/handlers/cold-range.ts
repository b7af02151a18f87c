// A Range request for a blob that is not cached, as lazy pullers send them
// (stargz, SOCI and zstd:chunked snapshotters read a blob's footer first,
// then its table of contents, then the chunks their files need). Waiting
// for the whole blob to be fetched before the last bytes could be sent would
// cost them the time of a whole pull per blob; instead:
//
//   a fill of this process has written the range's first byte and the grants
//   cover this client ─▶ read back from the fill's temp file
//   otherwise the Range goes to the upstream, with the client's credentials:
//     206 (for the range asked) ─▶ to the client, unverified (the snapshotter
//         checks its own chunk digests); and, unless the range is a probe
//         (it starts at byte 0), one whole-blob fill in the background
//         (background-fill.ts): the 206 proved this client may read the blob
//     200 (Range ignored) ─▶ cut from the verified whole, as on any miss:
//         teed into the cache, or (someone fills it already) this answer is
//         dropped and the request follows that fill (cached-blob.ts)
//     anything else ─▶ the upstream's answer (redirects were followed)
//
// Which ranges come here (coldRange): one well-formed range, satisfiable for
// some length, other than `bytes=0-` (a whole pull in all but name, teed into
// the cache as one). The rest (no Range, `bytes=0-`, several ranges, ones no
// length satisfies, malformed ones) take the teed fill (cached-blob.ts).
import { StalledError } from '../cache/errors.js'
import type { ProxyDeps, RequestContext } from '../context.js'
import { badGateway } from '../errors.js'
import { type ByteRange, formatRange, parseContentRange, parseRangeSpec, type RangeSpec, resolveRange } from '../registry/range.js'
import { upstreamSource } from '../registry/upstreams.js'
import { first } from '../stages/headers.js'
import type { UpstreamResponse } from '../upstream/types.js'
import { fillInBackground } from './background-fill.js'
import { granted } from './blob-access.js'
import { blobHeaders, guardProgress, partialHeaders, sendBlob } from './blob-response.js'
import { teeToClient } from './blob-fill.js'
import { recordTargetAccess, type Target, throwStorageRefusal } from './pass-through.js'
import { contentLength, responseHeaders, sendUpstream } from './upstream-response.js'

/** The range of a request that is answered as a cold Range, or null (see the top of this file). */
export function coldRange(header: string | undefined): RangeSpec | null {
  const spec = parseRangeSpec(header)
  if (spec === null || spec === 'unsatisfiable') return null
  if ('start' in spec && spec.start === 0 && spec.end === undefined) return null
  return spec
}

/**
 * A range from byte 0 that stops short of the end: a probe (`bytes=0-0`,
 * crproxy's own access check against another crproxy) or a sniff of a
 * blob's first bytes. Lazy pullers start at the footer, so a cold blob's
 * first Range never looks like this; a probe does not buy a whole blob.
 */
function isProbe(spec: RangeSpec): boolean {
  return 'start' in spec && spec.start === 0
}

/**
 * Answers the request; false (nothing sent) when the upstream ignored the
 * Range and someone else fills the blob: the caller follows that fill.
 */
export async function serveColdRange(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string, spec: RangeSpec): Promise<boolean> {
  // Without grants the upstream's answer to the Range is the access check,
  // and costs no more than asking it first would.
  if (granted(ctx, deps, t) && (await fromFill(ctx, deps, t, digest, spec))) return true
  // The client's signal, until the answer turns out to be the whole blob
  // and becomes a fill, which must not die with this client (others may
  // follow it).
  const controller = new AbortController()
  const relay = () => controller.abort(ctx.signal.reason)
  if (ctx.signal.aborted) relay()
  else ctx.signal.addEventListener('abort', relay, { once: true })
  try {
    const headers = { ...t.request.headers, range: formatRange(spec) }
    const res = await deps.registry.request({ ...t.request, headers, signal: controller.signal, log: ctx.log })
    recordTargetAccess(ctx, deps, t, res.status)
    if (res.status === 206) {
      await passRange(ctx, deps, t, digest, spec, res)
      return true
    }
    if (res.status !== 200) {
      ctx.source = 'upstream'
      throwStorageRefusal(ctx, t, res)
      await sendUpstream(ctx, res, responseHeaders(ctx, deps, t.upstream, res))
      return true
    }
    // The whole blob after all: as on any miss, the range is cut from it
    // once verified, and it fills the cache, unless someone fills it
    // already: then this copy is let go and that fill followed.
    const claim = await deps.cache!.claimFree(digest, upstreamSource(t.upstream))
    if (!claim) {
      res.body.destroy()
      return false
    }
    ctx.signal.removeEventListener('abort', relay)
    await teeToClient(ctx, deps, t, claim, digest, res)
    return true
  } finally {
    ctx.signal.removeEventListener('abort', relay)
  }
}

/** Serves the range from a fill in progress; false when none has its first byte. */
async function fromFill(ctx: RequestContext, deps: ProxyDeps, t: Target, digest: string, spec: RangeSpec): Promise<boolean> {
  const read = deps.cache!.readFill(digest, upstreamSource(t.upstream), (size) => {
    const range = resolveRange(spec, size)
    return range === 'unsatisfiable' ? null : range
  })
  if (!read) return false
  ctx.source = 'follower'
  ctx.res.writeHead(206, { ...blobHeaders(digest, read.size), ...partialHeaders(read.range, read.size) })
  // As for a follower (cached-blob.ts): a fill that stops cuts the client, whose retry goes upstream.
  const stopGuard = guardProgress(read, ctx.res, deps.followTimeout, () => {
    ctx.log.warn('the fill being read stalled mid-range: cutting the client so that it retries', { digest })
    read.body.destroy(new StalledError('the fill being read made no progress'))
  })
  try {
    await sendBlob(read.body, ctx.res)
  } finally {
    stopGuard()
  }
  return true
}

/**
 * The upstream's 206, checked to be the range asked for (its offsets and
 * length: a client must not get other bytes than it asked for under its
 * range's name), passed to the client. Its bytes cannot be checked, unless
 * they are the whole blob: then they are verified like one.
 */
async function passRange(
  ctx: RequestContext,
  deps: ProxyDeps,
  t: Target,
  digest: string,
  spec: RangeSpec,
  res: UpstreamResponse,
): Promise<void> {
  ctx.source = 'upstream'
  const contentRange = first(res.headers, 'content-range')
  const got = parseContentRange(contentRange)
  const length = contentLength(res)
  if (!got || !isRangeAsked(spec, got, length)) {
    res.body.destroy()
    throw badGateway(`the upstream answered ${formatRange(spec)} with ${contentRange ?? 'no Content-Range'} (${length ?? 'unknown'} bytes)`)
  }
  if (!isProbe(spec)) fillInBackground(ctx, deps, t, digest, got.size)
  const headers = responseHeaders(ctx, deps, t.upstream, res)
  headers['content-range'] = `bytes ${got.start}-${got.end}/${got.size}`
  const whole = got.start === 0 && got.end === got.size - 1
  await sendUpstream(ctx, res, headers, whole ? { verify: { digest, hashing: deps.hashing } } : {})
}

/** Is this 206 (its Content-Range, its body's length when framed by one) the range asked for? */
function isRangeAsked(spec: RangeSpec, got: ByteRange & { size: number }, length: number | undefined): boolean {
  const want = resolveRange(spec, got.size)
  if (want === 'unsatisfiable' || want.start !== got.start || want.end !== got.end) return false
  return length === undefined || length === got.end - got.start + 1
}
