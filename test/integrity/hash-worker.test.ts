// The verify-on-serve hasher: a worker thread hashes chunks copied into a
// shared ring; it agrees with inline hashing, falls back to inline when it
// cannot run, and a worker that dies fails the digest rather than passing it.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { HashWorkerPool, inlineHasher, type Hasher } from '../../lib/integrity/hash-worker.js'
import { SlotPool } from '../../lib/upstream/slot-pool.js'
import { sha256Hex } from '../fixtures/sha256.js'

const data = randomBytes(5 * 1024 * 1024 + 7)
const expected = sha256Hex(data)

async function feed(h: Hasher, chunk = 1024 * 1024): Promise<string> {
  for (let off = 0; off < data.length; off += chunk) {
    const part = data.subarray(off, off + chunk)
    const buf = h.alloc(part.length)
    part.copy(buf)
    h.update(buf)
    const wait = h.backlog()
    if (wait) await wait
  }
  return h.digest()
}

t.test('worker (shared memory), worker (copy) and inline agree', async (t) => {
  const shared = new HashWorkerPool({ threads: 2, maxBacklog: 2 * 1024 * 1024 })
  const copying = new HashWorkerPool({ threads: 1, sharedMemory: false })
  t.notOk(shared.create().alloc(8).buffer instanceof SharedArrayBuffer, 'inline until a worker is online')
  t.equal(await shared.warm(), true, 'a worker came online')
  await copying.warm()
  const results = await Promise.all([feed(shared.create()), feed(shared.create()), feed(copying.create()), feed(inlineHasher())])
  t.same(results, [expected, expected, expected, expected])
  t.notOk(shared.create().alloc(8).buffer instanceof SharedArrayBuffer, 'no shared buffer per chunk: chunks are copied into the worker ring')
  await shared.close()
  await copying.close()
})

t.test('threads: 0 means inline', async (t) => {
  const pool = new HashWorkerPool({ threads: 0 })
  t.equal(await pool.warm(), false)
  const h = pool.create()
  t.notOk(h.alloc(8).buffer instanceof SharedArrayBuffer)
  t.equal(await feed(h), expected)
  await pool.close()
})

t.test('a worker that dies fails its digests; the pool carries on', async (t) => {
  const pool = new HashWorkerPool({ threads: 1 })
  await pool.warm()
  const h = pool.create()
  h.update(Buffer.from('abc'))
  await pool.close() // terminates the worker under the hasher
  await t.rejects(h.digest(), { code: 'EHASHWORKER' })
  t.equal(await pool.warm(), false, 'a closed pool starts no worker')
  t.equal(await feed(pool.create()), expected, 'a closed pool hashes inline')
})

t.test('a ring smaller than the chunks, shared by many hashers, some disposed mid-way', async (t) => {
  const pool = new HashWorkerPool({ threads: 1, maxBacklog: 100_000 })
  t.equal(await pool.warm(), true)
  const sizes = [1, 4096, 65_536, 99_999, 100_000, 250_000, 777]
  const feedOdd = async (h: Hasher, seed: number): Promise<string> => {
    let i = seed
    for (let off = 0; off < data.length; ) {
      const n = Math.min(sizes[i++ % sizes.length]!, data.length - off)
      const buf = h.alloc(n)
      data.copy(buf, 0, off, off + n)
      off += n
      h.update(buf)
      const wait = h.backlog()
      if (wait) await wait
    }
    return h.digest()
  }
  const disposed = Array.from({ length: 3 }, () => {
    const h = pool.create()
    h.update(Buffer.alloc(300_000))
    h.dispose()
  })
  t.equal(disposed.length, 3)
  const results = await Promise.all(Array.from({ length: 8 }, (_, k) => feedOdd(pool.create(), k)))
  t.same(results, Array(8).fill(expected), 'every hasher got its own bytes, in order')
  await pool.close()
})

t.test('16 KiB chunks through a small ring; a disposed hasher gives its ring space back', async (t) => {
  const pool = new HashWorkerPool({ threads: 1, maxBacklog: 64 * 1024 })
  t.equal(await pool.warm(), true)
  // 64 KiB (the whole ring), then dropped: unless the worker still
  // acknowledges that space, the next hasher waits forever.
  const dropped = pool.create()
  for (let i = 0; i < 4; i++) dropped.update(Buffer.alloc(16 * 1024, i))
  dropped.dispose()
  t.equal(await feed(pool.create(), 16 * 1024), expected, '16 KiB records (a TLS upstream) hash to the right digest')
  await pool.close()
})

t.test('chunks at every offset modulo 8 through a ring that wraps often: the skipped bytes never corrupt a digest', async (t) => {
  // 40-byte ring: most chunks need padding to line up with their source, and
  // many need the ring's tail skipped as well.
  const pool = new HashWorkerPool({ threads: 1, maxBacklog: 40 })
  t.equal(await pool.warm(), true)
  const src = randomBytes(4096)
  const hashers = [0, 1, 2, 3].map(() => pool.create(2 * 1024 * 1024))
  const fed = [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)]
  let off = 0
  for (let i = 0; i < 400; i++) {
    const len = 1 + ((i * 7) % 29)
    const start = (off + i) % (src.length - len)
    const chunk = src.subarray(start, start + len) // byteOffset: every value modulo 8
    const k = i % 4
    hashers[k]!.update(chunk)
    fed[k] = Buffer.concat([fed[k]!, chunk])
    off += 3
  }
  const got = await Promise.all(hashers.map((h) => h.digest()))
  t.same(got, fed.map((b) => sha256Hex(b)), 'each digest is that of the bytes it was fed')
  await pool.close()
})

t.test('slot chunks are hashed in place, and their slots are held until the worker is done', async (t) => {
  const slots = new SlotPool({ slotSize: 64 * 1024, maxSlots: 2 })
  const pool = new HashWorkerPool({ threads: 1, slots })
  t.equal(await pool.warm(), true)
  const budget = slots.budget(4)
  const h = pool.create(2 * 1024 * 1024)
  const fed: Buffer[] = []
  const taken = []
  for (let i = 0; i < 4; i++) {
    const slot = budget.take()!
    slot.buf.set(randomBytes(slot.buf.length))
    const chunk = slot.buf.subarray(i + 1, slot.buf.length - i) // odd offsets, in place
    fed.push(Buffer.from(chunk))
    h.update(chunk)
    taken.push(slot)
  }
  t.same(taken.map((s) => s.pooled), [true, true, false, false], 'past maxSlots the pool hands out overflow buffers')
  for (const s of taken) s.release() // the reader lets go; the hash still holds the shared ones
  t.ok(slots.inUse >= 1, 'a shared slot stays held while its chunk is queued for the worker')
  t.equal(await h.digest(), sha256Hex(Buffer.concat(fed)), 'the digest of the slots as they were when fed')
  t.equal(slots.inUse, 0, 'every slot back in the pool once hashed')
  t.equal(budget.taken, 0)
  await pool.close()
})
