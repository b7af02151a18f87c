// Plain-TCP upstream sockets read into buffers that grow while reads fill
// them: a fast upstream arrives in chunks far bigger than Node's 64 KiB, and
// no chunk handed on is ever overwritten by a later read.
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { connectSized, readsOf } from '../../lib/upstream/read-buffers.js'
import { sha256Hex } from '../fixtures/sha256.js'

async function server(t: Test, onConn: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer(onConn)
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  t.teardown(() => new Promise<void>((r) => srv.close(() => r())))
  return (srv.address() as net.AddressInfo).port
}

t.test('a fast sender arrives in big chunks, each still intact at the end', async (t) => {
  const payload = randomBytes(32 * 1024 * 1024)
  const port = await server(t, (s) => s.end(payload))
  const sock = connectSized({ host: '127.0.0.1', port })
  const chunks: Buffer[] = []
  readsOf(sock)!.sink = (c) => chunks.push(c)
  // Let the kernel queue up a lot before the first read completes.
  sock.pause()
  await once(sock, 'connect')
  await new Promise((r) => setTimeout(r, 50))
  sock.resume()
  await once(sock, 'end')
  const got = Buffer.concat(chunks)
  t.equal(got.length, payload.length)
  t.equal(sha256Hex(got), sha256Hex(payload), 'same bytes: no chunk was reused')
  t.ok(Math.max(...chunks.map((c) => c.length)) > 64 * 1024, `largest read ${Math.max(...chunks.map((c) => c.length))} bytes`)
  t.ok(chunks.every((c) => c.buffer.byteLength <= 2 * c.length || c.buffer.byteLength <= 8192), 'no chunk pins more than twice its size')
})

t.test('bytes read before anyone listens are delivered first, once', async (t) => {
  const port = await server(t, (s) => s.end('early bird'))
  const sock = connectSized({ host: '127.0.0.1', port })
  const closed = once(sock, 'close')
  await once(sock, 'connect')
  await new Promise((r) => setTimeout(r, 50))
  const got: string[] = []
  readsOf(sock)!.sink = (c) => got.push(c.toString())
  await closed
  t.equal(got.join(''), 'early bird')
})

t.test('pause() stops the reads (backpressure still works)', async (t) => {
  const payload = randomBytes(16 * 1024 * 1024)
  const port = await server(t, (s) => s.end(payload))
  const sock = connectSized({ host: '127.0.0.1', port })
  let received = 0
  readsOf(sock)!.sink = (c) => {
    received += c.length
    sock.pause()
  }
  await once(sock, 'connect')
  await new Promise((r) => setTimeout(r, 100))
  const whilePaused = received
  t.ok(whilePaused > 0 && whilePaused < payload.length, `paused after ${whilePaused} bytes`)
  await new Promise((r) => setTimeout(r, 100))
  t.equal(received, whilePaused, 'nothing read while paused')
  readsOf(sock)!.sink = (c) => void (received += c.length)
  sock.resume()
  await once(sock, 'end')
  t.equal(received, payload.length)
})
