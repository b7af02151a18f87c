// Where a blob redirect leads (a CDN, an object store) answers in its own
// words: S3's XML, a CDN's HTML. A registry client reads none of that, so a
// GET whose redirect ends in an error gets a registry error body with the
// store's status (and Retry-After): the store's 404 is BLOB_UNKNOWN. The
// registry's own errors still pass through as they are. With and without a
// cache. (A 416 passes as it is: test/proxy/blob-transfer.test.ts.)
import t from 'tap'
import { startHarness } from './fixtures/harness.js'

const s3NoSuchKey = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>'
const s3Expired = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>'

for (const cache of [false, true]) {
  t.test(`the store's errors become registry errors (${cache ? 'with' : 'without'} a cache)`, async (t) => {
    const h = await startHarness(t, { cache })
    for (const [status, body, code, retryAfter] of [
      [404, s3NoSuchKey, 'BLOB_UNKNOWN', undefined],
      [403, s3Expired, 'DENIED', undefined],
      [500, '<html><body>oops</body></html>', 'BAD_GATEWAY', undefined],
      [503, '<html><body>busy</body></html>', 'UNAVAILABLE', '17'],
    ] as const) {
      const blob = h.addBlob(32 * 1024)
      h.reg.clearFaults()
      const lines = ['Content-Type: application/xml', `Content-Length: ${Buffer.byteLength(body)}`, ...(retryAfter ? [`Retry-After: ${retryAfter}`] : [])]
      h.reg.fault('cdn', { kind: 'raw', status, lines, body })
      const o = await h.get(blob.path)
      t.equal(o.status, status, `the store's ${status} passes on`)
      t.equal(o.headers['content-type'], 'application/json', 'JSON')
      const parsed = JSON.parse(o.body.toString()) as { errors: Array<{ code: string; message: string }> }
      t.equal(parsed.errors[0]!.code, code)
      t.notMatch(o.body.toString(), /<Error>|<html>/, "none of the store's body")
      t.match(parsed.errors[0]!.message, new RegExp(`storage .*${status === 404 ? 'no such object' : `answered ${status}`}`))
      t.equal(o.headers['retry-after'], retryAfter, 'Retry-After kept')
    }
    // The registry's own 404 (a JSON error naming the blob) is relayed as it is.
    h.reg.clearFaults()
    const missing = h.blobPath.replace(/[0-9a-f]{64}$/, 'f'.repeat(64))
    const o = await h.get(missing)
    t.equal(o.status, 404)
    t.match(JSON.parse(o.body.toString()), { errors: [{ code: 'BLOB_UNKNOWN' }] })
    t.notMatch(o.body.toString(), /storage/, "the registry's own words")
    h.reg.clearFaults()
    await h.assertRecovers(t)
    await h.assertClean(t)
  })
}
