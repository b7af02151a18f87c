// A writeHead that throws on a header value Node refuses has already set the
// headers before the bad one, and its status message. The registry error
// written after it carries neither: its own status line, its own headers,
// and the request id set before the handler ran.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { writeError } from '../../lib/respond.js'
import { rawRequest } from '../hardening/fixtures/raw-http.js'

t.test('an error after a failed writeHead is clean', async (t) => {
  let thrown: unknown
  const server = http.createServer((_req, res) => {
    res.setHeader('x-request-id', 'r1')
    try {
      res.writeHead(200, { 'docker-content-digest': 'sha256:leak', etag: '"a\u0001b"' })
    } catch (err) {
      thrown = err
      writeError(res, err)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const { port } = server.address() as AddressInfo
  const r = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')
  const text = r.raw.toString('latin1')
  const [head = '', body = ''] = text.split('\r\n\r\n')
  t.ok(thrown instanceof TypeError, 'writeHead refused the header')
  t.match(head, /^HTTP\/1\.1 500 Internal Server Error\r\n/, 'the status line is the error\'s, not "500 OK"')
  t.notMatch(head, /docker-content-digest/i, 'the headers of the failed writeHead are gone')
  t.match(head, /\r\nx-request-id: r1\r\n/i, 'the request id stays')
  t.match(head, new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(body)}\\r\\n`, 'i'), 'framed by its own Content-Length')
  t.match(JSON.parse(body), { errors: [{ code: 'UNAVAILABLE' }] }, 'a registry error body')
})
