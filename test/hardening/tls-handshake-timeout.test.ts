// With --tls-cert, a connection must finish its TLS handshake within
// --tls-handshake-timeout: one that never sends a ClientHello, or sends half
// of one, is closed then instead of holding a descriptor (and a slot of
// --max-conns-per-client) for ever. A handshake that completes is not cut,
// and a TLS connection over --max-conns-per-client is closed at accept.
import { readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import tls from 'node:tls'
import t from 'tap'
import type { Test } from 'tap'
import { main } from '../../lib/cli.js'
import type { RunningProxy } from '../../lib/proxy.js'
import { startTestProxy } from '../fixtures/proxy.js'
import { selfSigned } from '../fixtures/certs.js'
import { hasCommand } from '../ops/fixtures/helpers.js'

const skip = !hasCommand('openssl') && 'openssl not installed'

/** A TLS record header announcing a 512-byte ClientHello, and the first bytes of it. */
const PARTIAL_CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x00, 0x00])

/** Connects, sends `bytes` (maybe none), then waits up to waitMs for the server to close: ms until it did, or null. */
function closedAfter(port: number, bytes: Buffer | null, waitMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const started = Date.now()
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      if (bytes) socket.write(bytes)
    })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve(null)
    }, waitMs)
    const done = () => {
      clearTimeout(timer)
      resolve(Date.now() - started)
    }
    socket.on('error', () => {})
    socket.once('end', done)
    socket.once('close', done)
    socket.resume()
  })
}

function tlsGet(port: number, socket?: tls.TLSSocket): Promise<{ status: number; socket: tls.TLSSocket }> {
  return new Promise((resolve, reject) => {
    const s = socket ?? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false })
    let data = ''
    const onData = (c: Buffer) => {
      data += c.toString('latin1')
      const m = /^HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n/.exec(data)
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(data)?.[1] ?? 0)
      if (m && data.length >= m[0].length + length) {
        s.off('data', onData)
        resolve({ status: Number(m[1]), socket: s })
      }
    }
    s.on('data', onData)
    s.once('error', reject)
    const send = () => s.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    if (socket) send()
    else s.once('secureConnect', send)
  })
}

async function tlsProxy(t: Test, extra: Record<string, unknown> = {}): Promise<RunningProxy> {
  const { certFile: cert, keyFile: key } = selfSigned(t.testdir(), 'hs')
  return startTestProxy(t, {
    registryMap: { default: 'http://127.0.0.1:9' },
    tls: { cert: readFileSync(cert), key: readFileSync(key) },
    tlsHandshakeTimeout: 500,
    ...extra,
  })
}

t.test('unfinished handshakes are closed at the timeout', { skip }, async (t) => {
  const proxy = await tlsProxy(t)
  const [silent, partial] = await Promise.all([closedAfter(proxy.port, null, 8000), closedAfter(proxy.port, PARTIAL_CLIENT_HELLO, 8000)])
  t.ok(silent !== null && silent < 4000, `no ClientHello: closed after ${silent} ms`)
  t.ok(partial !== null && partial < 4000, `half a ClientHello: closed after ${partial} ms`)
  const connections = await new Promise<number>((resolve) => proxy.server.getConnections((_, n) => resolve(n)))
  t.equal(connections, 0, 'the proxy holds neither')

  const first = await tlsGet(proxy.port)
  t.equal(first.status, 200, 'a complete handshake is served')
  await new Promise((r) => setTimeout(r, 1200))
  const second = await tlsGet(proxy.port, first.socket)
  t.equal(second.status, 200, 'and its connection outlives the handshake timeout')
  first.socket.destroy()
})

t.test('--tls-handshake-timeout from the environment', { skip }, async (t) => {
  const dir = t.testdir()
  const { certFile: cert, keyFile: key } = selfSigned(dir, 'cli')
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify({ default: 'http://127.0.0.1:9' }))
  let stop!: () => void
  const shutdown = new Promise<void>((r) => (stop = r))
  let onListening!: (p: RunningProxy) => void
  const listening = new Promise<RunningProxy>((r) => (onListening = r))
  const exited = main(['--listen', '127.0.0.1:0', '--registry-map', map, '--tls-cert', cert, '--tls-key', key], {
    env: { CRPROXY_TLS_HANDSHAKE_TIMEOUT: '500ms' },
    stdout: () => {},
    stderr: () => {},
    shutdown,
    onListening,
  })
  const proxy = await listening
  const ms = await closedAfter(proxy.port, null, 8000)
  t.ok(ms !== null && ms < 4000, `a silent connection is closed after ${ms} ms`)
  stop()
  t.equal(await exited, 0)
})

t.test('over --max-conns-per-client, a TLS connection is closed at accept', { skip }, async (t) => {
  const proxy = await tlsProxy(t, { maxConnsPerClient: 2, tlsHandshakeTimeout: 60_000 })
  const held = await Promise.all([tlsGet(proxy.port), tlsGet(proxy.port)])
  const ms = await closedAfter(proxy.port, null, 8000)
  t.ok(ms !== null && ms < 2000, `the third connection was closed after ${ms} ms, long before the handshake timeout`)
  for (const h of held) t.equal((await tlsGet(proxy.port, h.socket)).status, 200, 'the admitted ones are still served')
  for (const h of held) h.socket.destroy()
})
