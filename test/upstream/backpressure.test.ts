// Backpressure end to end: a reader that stops stops the upstream (bounded by
// socket buffers, never by the size of the body), and a large body streams
// through byte-exact as slices of the socket's reads.

import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { client, httpServer, sleep } from './fixtures/helpers.js'

const MiB = 1024 * 1024

t.test('a paused reader holds the upstream back; then everything arrives', async (t) => {
  const size = 256 * MiB
  const block = randomBytes(MiB)
  let produced = 0
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(size) })
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < size / MiB; i++) {
          produced += MiB
          yield block
        }
      })(),
      { highWaterMark: 1 },
    )
    void pipeline(source, res).catch(() => {})
  })
  const c = client(t)
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  await sleep(300)
  const held = produced
  t.ok(held < 48 * MiB, `the server produced ${held / MiB} MiB of 256 while nobody read`)
  await sleep(100)
  t.equal(produced, held, 'and it stays there')

  const expected = createHash('sha256')
  for (let i = 0; i < size / MiB; i++) expected.update(block)
  const got = createHash('sha256')
  let n = 0
  const started = Date.now()
  for await (const chunk of res.body) {
    n += (chunk as Buffer).length
    got.update(chunk as Buffer)
  }
  t.equal(n, size)
  t.equal(got.digest('hex'), expected.digest('hex'))
  t.comment(`${((size / MiB) / ((Date.now() - started) / 1000)).toFixed(0)} MiB/s through a sha256 reader`)
  t.same(c.stats(), { open: 1, idle: 1, queued: 0 }, 'the socket went back to the pool')
})

t.test('a slow consumer in a pipeline reads a chunked body byte-exact', async (t) => {
  const body = randomBytes(6 * MiB + 1)
  const up = await httpServer(t, (_req, res) => {
    for (let off = 0; off < body.length; off += 100_000) res.write(body.subarray(off, off + 100_000))
    res.end()
  })
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  const parts: Buffer[] = []
  let calls = 0
  await pipeline(res.body, async function (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) {
      parts.push(chunk)
      if (++calls % 20 === 0) await sleep(1)
    }
  })
  t.ok(Buffer.concat(parts).equals(body))
})

t.test('body chunks are Buffers, not strings or copies of the whole', async (t) => {
  const body = randomBytes(2 * MiB)
  const up = await httpServer(t, (_req, res) => res.end(body))
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  const chunks = (await readAllChunks(res.body)) as unknown[]
  t.ok(chunks.every((c) => Buffer.isBuffer(c)))
  t.ok(chunks.length > 1, 'streamed, not buffered whole')
  t.ok(Buffer.concat(chunks as Buffer[]).equals(body))
})

async function readAllChunks(body: Readable): Promise<unknown[]> {
  const out: unknown[] = []
  for await (const c of body) out.push(c)
  return out
}
