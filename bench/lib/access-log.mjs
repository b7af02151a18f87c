// Blob GETs an upstream answered, from its access log (distribution's
// combined log format): how often the proxies went upstream, and for what.
import { closeSync, openSync, readSync, statSync } from 'node:fs'

/** The log's text from byte `offset` on. */
function since(path, offset) {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.alloc(Math.max(0, statSync(path).size - offset))
    readSync(fd, buf, 0, buf.length, offset)
    return buf.toString('utf8')
  } finally {
    closeSync(fd)
  }
}

/**
 * Blob GETs of `digest` the upstream answered since `offset` in its log:
 * { count, whole (200s), ranged (206s), bytes }.
 */
export function upstreamBlobGets(upstream, offset, digest) {
  let count = 0
  let whole = 0
  let ranged = 0
  let bytes = 0
  for (const m of since(upstream.logPath, offset).matchAll(/"GET (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/g)) {
    if (!m[1].includes(`/blobs/${digest}`)) continue
    count++
    if (m[2] === '200') whole++
    else if (m[2] === '206') ranged++
    bytes += m[3] === '-' ? 0 : Number(m[3])
  }
  return { count, whole, ranged, bytes }
}

export const logSize = (upstream) => statSync(upstream.logPath).size
