// A taken-over body read into slots (lib/upstream/slot-pool.ts), over plain
// TCP and over TLS: the consumer gets every byte in order, the socket waits
// while the reader's slots are all held, a slot is never written while a
// consumer holds it, and every slot comes back, with the socket reusable.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { BodySink } from '../../lib/upstream/response-body.js'
import { ResponseBody } from '../../lib/upstream/response-body.js'
import { SlotPool, type Slot } from '../../lib/upstream/slot-pool.js'
import type { UpstreamResponse } from '../../lib/upstream/types.js'
import { selfSigned } from '../fixtures/certs.js'
import { client, httpServer, httpsServer, readAll, sleep } from './fixtures/helpers.js'

const cert = selfSigned(t.testdir())
const body = randomBytes(6 * 1024 * 1024 + 13)

interface Taken {
  bytes: Buffer
  starvedAtLeastOnce: boolean
  /** Chunks whose bytes changed while the consumer still held them. */
  overwritten: number
}

/**
 * Takes the body over with a budget of 4 small slots and holds each chunk
 * ~2 ms (a slow disk), checking that a held chunk is never overwritten.
 */
function takeOver(res: UpstreamResponse, pool: SlotPool): Promise<Taken> {
  const budget = pool.budget(4)
  const parts: Buffer[] = []
  let overwritten = 0
  let starved = false
  return new Promise((resolve, reject) => {
    const sink: BodySink = {
      chunk: (c) => {
        const copy = Buffer.from(c)
        parts.push(copy)
        const slot: Slot | undefined = pool.slotOf(c)
        slot?.hold()
        if (budget.waiting) starved = true
        setTimeout(() => {
          if (!c.equals(copy)) overwritten++
          if (budget.waiting) starved = true
          slot?.release()
        }, 2)
      },
      end: () => setTimeout(() => resolve({ bytes: Buffer.concat(parts), starvedAtLeastOnce: starved, overwritten }), 10),
      error: reject,
    }
    if (!(res.body instanceof ResponseBody) || !res.body.takeOver(sink, budget)) reject(new Error('not taken over'))
  })
}

for (const secure of [false, true]) {
  t.test(`${secure ? 'TLS' : 'plain TCP'}: every byte, in order, through 4 slots of 64 KiB`, async (t) => {
    const up = secure
      ? await httpsServer(t, cert, (_req, res) => res.end(body))
      : await httpServer(t, (_req, res) => res.end(body))
    const c = client(t, secure ? { tls: { ca: cert.cert } } : {})
    const pool = new SlotPool({ slotSize: 64 * 1024, maxSlots: 3 })
    const url = new URL(`${secure ? 'https' : 'http'}://localhost:${up.port}/v2/x/blobs/sha256:0`)
    const res = await c.request({ method: 'GET', url, headers: {} })
    const got = await takeOver(res, pool)
    t.equal(got.bytes.length, body.length, 'as many bytes as sent')
    t.ok(got.bytes.equals(body), 'the same bytes, in order')
    t.equal(got.overwritten, 0, 'no chunk was overwritten while its consumer held it')
    t.ok(got.starvedAtLeastOnce, 'the reader waited for a slot (the consumer was slower)')
    await sleep(20)
    t.equal(pool.inUse, 0, 'every slot (and overflow buffer) came back')
    // The same socket serves the next response, read the ordinary way.
    const again = await c.request({ method: 'GET', url, headers: {} })
    t.ok((await readAll(again.body)).equals(body), 'the next response on the socket is intact')
    t.equal(up.connections, 1, 'one connection for both')
    t.equal(pool.inUse, 0, 'and it holds no slot')
  })
}

t.test('the upstream dies mid-body: the sink errors and the slots come back', async (t) => {
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(body.length) })
    res.write(body.subarray(0, 1024 * 1024), () => res.socket?.destroy())
  })
  const pool = new SlotPool({ slotSize: 64 * 1024, maxSlots: 8 })
  const res = await client(t).request({ method: 'GET', url: new URL(`http://localhost:${up.port}/`), headers: {} })
  const err = await takeOver(res, pool).catch((e: unknown) => e)
  t.type(err, Error, 'the sink got the error')
  await sleep(50)
  t.equal(pool.inUse, 0, 'no slot kept by the dead socket')
})
