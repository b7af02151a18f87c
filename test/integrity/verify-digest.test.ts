// The VerifyDigest stage: bytes pass as they come except the most recent
// chunk, released only once SHA-256 and length matched; so a consumer never
// sees a complete wrong body.
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { HashWorkerPool } from '../../lib/integrity/hash-worker.js'
import { isDigestMismatch } from '../../lib/integrity/integrity-error.js'
import { parseDigest, VerifyDigest } from '../../lib/integrity/verify-digest.js'
import { sha256 } from '../fixtures/sha256.js'

const chunks = [Buffer.from('hello '), Buffer.from('blob '), Buffer.from('world')]
const whole = Buffer.concat(chunks)
const digest = sha256(whole)

async function run(input: Buffer[], opts: { digest: string; size?: number }) {
  const seen: Buffer[] = []
  const v = new VerifyDigest(opts)
  let error: (Error & { code?: string; expected?: string; found?: string }) | null = null
  try {
    // Flowing mode: chunks are seen as they are pushed (a destroyed stream
    // drops what it still buffers, which would hide what was released).
    v.on('data', (c: Buffer) => seen.push(c))
    await pipeline(Readable.from(input), v)
  } catch (err) {
    error = err as Error
  }
  return { got: Buffer.concat(seen), error }
}

t.test('a matching body passes whole', async (t) => {
  const { got, error } = await run(chunks, { digest, size: whole.length })
  t.equal(error, null)
  t.ok(got.equals(whole))
})

t.test('a mismatch errors before the last chunk', async (t) => {
  const wrong = [chunks[0]!, chunks[1]!, Buffer.from('World')]
  const { got, error } = await run(wrong, { digest })
  t.ok(isDigestMismatch(error))
  t.equal(error?.code, 'EINTEGRITY')
  t.equal(error?.expected, digest)
  t.match(error?.found, /^sha256:[0-9a-f]{64}$/)
  t.equal(got.toString(), 'hello blob ', 'everything but the held final chunk')
})

t.test('length checks', async (t) => {
  const short = await run(chunks, { digest, size: whole.length + 1 })
  t.equal(short.error?.code, 'EINTEGRITY', 'fewer bytes than announced')
  t.ok(short.got.length < whole.length)
  const long = await run(chunks, { digest, size: 8 })
  t.equal(long.error?.code, 'EINTEGRITY', 'more bytes than announced fails early')
  t.ok(long.got.length < 8)
})

t.test('empty body', async (t) => {
  const empty = sha256('')
  t.same(await run([], { digest: empty, size: 0 }), { got: Buffer.alloc(0), error: null })
  t.equal((await run([], { digest })).error?.code, 'EINTEGRITY')
})

t.test('digest grammar', async (t) => {
  t.throws(() => new VerifyDigest({ digest: 'md5:abc' }))
  t.throws(() => new VerifyDigest({ digest: 'sha256:ABC' }))
  t.same(parseDigest('sha512:' + 'a'.repeat(128)), { algorithm: 'sha512', hex: 'a'.repeat(128) })
  t.equal(parseDigest('sha256:' + 'a'.repeat(63)), null)
  t.notOk(isDigestMismatch(new Error('x')))
  t.notOk(isDigestMismatch('EINTEGRITY'))
})

t.test('with a worker hasher: a big body passes whole, a wrong one is cut before its end', async (t) => {
  const pool = new HashWorkerPool({ threads: 1, maxBacklog: 1024 * 1024 })
  t.teardown(() => pool.close())
  t.equal(await pool.warm(), true, 'a worker came online')
  const body = randomBytes(6 * 1024 * 1024 + 3)
  const parts = (b: Buffer) => Array.from({ length: Math.ceil(b.length / 65536) }, (_, i) => b.subarray(i * 65536, (i + 1) * 65536))
  const bigDigest = sha256(body)
  const ok = new VerifyDigest({ digest: bigDigest, size: body.length, hasher: pool.create(body.length) })
  const seen: Buffer[] = []
  ok.on('data', (c: Buffer) => seen.push(c))
  await pipeline(Readable.from(parts(body)), ok)
  t.ok(Buffer.concat(seen).equals(body), 'every byte, in order, through a ring smaller than the body')

  const wrong = Buffer.from(body)
  wrong[wrong.length - 1]! ^= 1
  const bad = new VerifyDigest({ digest: bigDigest, size: body.length, hasher: pool.create(body.length) })
  const got: Buffer[] = []
  bad.on('data', (c: Buffer) => got.push(c))
  const err = await pipeline(Readable.from(parts(wrong)), bad).then(() => null, (e: unknown) => e)
  t.ok(isDigestMismatch(err), 'the digest mismatch is the error')
  t.ok(Buffer.concat(got).length < body.length, 'the client never had the whole wrong body')
})
