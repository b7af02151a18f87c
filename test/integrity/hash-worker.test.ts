// The verify-on-serve hasher: a worker thread hashes chunks copied into a
// shared ring; it agrees with inline hashing, falls back to inline when it
// cannot run, and a worker that dies fails the digest rather than passing it.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { HashWorkerPool, inlineHasher, type Hasher } from '../../lib/integrity/hash-worker.js'
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
