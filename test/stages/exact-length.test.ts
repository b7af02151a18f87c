// ExactLength: a body that disagrees with the Content-Length sent errors
// before the surplus goes out, or at its end when it falls short; a body of
// exactly that length passes untouched.
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import t from 'tap'
import { ExactLength } from '../../lib/stages/exact-length.js'

async function run(chunks: string[], length: number): Promise<{ out: string; err: unknown }> {
  let out = ''
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString()
      cb()
    },
  })
  try {
    await pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), new ExactLength(length), sink)
    return { out, err: undefined }
  } catch (err) {
    return { out, err }
  }
}

t.test('exactly the length passes untouched', async (t) => {
  t.same(await run(['ab', 'cde', 'f'], 6), { out: 'abcdef', err: undefined })
  t.same(await run([], 0), { out: '', err: undefined })
})

t.test('a surplus errors before any of it goes out', async (t) => {
  const r = await run(['abc', 'defHTTP/1.1 200 OK'], 6)
  t.equal(r.out, 'abc', 'only the bytes within the length were passed on')
  t.match(r.err, { message: /longer than the Content-Length sent \(6\)/ })
})

t.test('a shortfall errors at the end', async (t) => {
  const r = await run(['abc'], 6)
  t.match(r.err, { message: /3 bytes shorter than the Content-Length sent \(6\)/ })
})
