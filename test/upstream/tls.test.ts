// TLS to the origin: verification against the given CA, SNI, ALPN, reuse.

import t from 'tap'
import { randomBytes } from 'node:crypto'
import { UpstreamError } from '../../lib/errors.js'
import { selfSigned } from '../fixtures/certs.js'
import { client, httpsServer, readAll } from './fixtures/helpers.js'
import type { TLSSocket } from 'node:tls'

const cert = selfSigned(t.testdir())
const body = randomBytes(3 * 1024 * 1024)

t.test('https with the test CA: body byte-exact, socket reused, SNI and ALPN sent', async (t) => {
  const seen: { servername: string | false; alpn: string | false }[] = []
  const up = await httpsServer(t, cert, (req, res) => {
    const s = req.socket as TLSSocket
    seen.push({ servername: (s as TLSSocket & { servername: string | false }).servername, alpn: s.alpnProtocol ?? false })
    res.end(body)
  })
  const c = client(t, { tls: { ca: cert.cert } })
  for (let i = 0; i < 3; i++) {
    const res = await c.request({ method: 'GET', url: new URL(`https://localhost:${up.port}/v2/`), headers: {} })
    t.ok((await readAll(res.body)).equals(body))
  }
  t.equal(up.connections, 1)
  t.same(seen[0], { servername: 'localhost', alpn: 'http/1.1' })
})

t.test('an IP-literal origin is verified against the IP SAN, without SNI', async (t) => {
  const names: (string | false)[] = []
  const up = await httpsServer(t, cert, (req, res) => {
    names.push((req.socket as TLSSocket & { servername: string | false }).servername)
    res.end('ok')
  })
  const res = await client(t, { tls: { ca: cert.cert } }).request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(res.body)).toString(), 'ok')
  t.same(names, [false])
})

t.test('an untrusted certificate → tls', async (t) => {
  const up = await httpsServer(t, cert, (_req, res) => res.end('ok'))
  const c = client(t)
  const err = await c.request({ method: 'GET', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.type(err, UpstreamError)
  t.equal((err as UpstreamError).kind, 'tls')
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
})

t.test('a name the certificate does not cover → tls', async (t) => {
  const up = await httpsServer(t, cert, (_req, res) => res.end('ok'))
  const err = await client(t, { tls: { ca: cert.cert } })
    .request({ method: 'GET', url: new URL(`https://127.0.0.2:${up.port}/`), headers: {} })
    .catch((e: unknown) => e)
  // 127.0.0.2 is loopback too on Linux; if it is unreachable the kind is connect.
  t.ok(err instanceof UpstreamError && (err.kind === 'tls' || err.kind === 'connect'))
})

t.test('rejectUnauthorized: false accepts any certificate', async (t) => {
  const up = await httpsServer(t, cert, (_req, res) => res.end('ok'))
  const res = await client(t, { tls: { rejectUnauthorized: false } }).request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(res.body)).toString(), 'ok')
})
