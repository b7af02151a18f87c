// Message framing (RFC 9112 §6.3): every way a response body can be delimited
// arrives byte-exact, and bodies that must be empty are.

import t from 'tap'
import { randomBytes } from 'node:crypto'
import { client, httpServer, onRequestHeads, rawServer, readAll } from './fixtures/helpers.js'

const big = randomBytes(8 * 1024 * 1024 + 13)

t.test('Content-Length body, multi-MiB random, byte-exact', async (t) => {
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': String(big.length) })
    res.end(big)
  })
  const res = await client(t).request({ method: 'GET', url: new URL('/blob', up.url), headers: {} })
  t.equal(res.status, 200)
  t.equal(res.headers['content-length'], String(big.length))
  t.ok((await readAll(res.body)).equals(big))
})

t.test('chunked body, multi-MiB random in uneven chunks, byte-exact', async (t) => {
  const up = await httpServer(t, (_req, res) => {
    res.writeHead(200) // no length: node sends Transfer-Encoding: chunked
    let off = 0
    let n = 1
    while (off < big.length) {
      const len = Math.min(big.length - off, n * 977)
      res.write(big.subarray(off, off + len))
      off += len
      n = (n * 7) % 131 + 1
    }
    res.end()
  })
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  t.equal(res.headers['transfer-encoding'], 'chunked')
  t.ok((await readAll(res.body)).equals(big))
})

t.test('chunked body with chunk extensions and trailers', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () =>
      s.write(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
          '5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n',
      ),
    )
  })
  const c = client(t)
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(res.body)).toString(), 'hello world')
  // the trailer section was consumed: the socket is reusable
  const again = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(again.body)).toString(), 'hello world')
  t.equal(up.connections, 1)
})

t.test('close-delimited body reads to EOF and the socket is not reused', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n')
      s.write(big.subarray(0, 100_000))
      s.end(big.subarray(100_000, 300_000))
    })
  })
  const c = client(t)
  for (let i = 0; i < 2; i++) {
    const res = await c.request({ method: 'GET', url: up.url, headers: {} })
    t.ok((await readAll(res.body)).equals(big.subarray(0, 300_000)))
  }
  t.equal(up.connections, 2, 'a close-delimited response ends its connection')
})

t.test('HEAD: no body even with Content-Length, socket reused', async (t) => {
  const up = await httpServer(t, (req, res) => {
    res.writeHead(200, { 'content-length': '12345', 'docker-content-digest': 'sha256:abc' })
    res.end(req.method === 'HEAD' ? undefined : Buffer.alloc(12345))
  })
  const c = client(t)
  const head = await c.request({ method: 'HEAD', url: up.url, headers: {} })
  t.equal(head.headers['content-length'], '12345')
  t.equal((await readAll(head.body)).length, 0)
  const get = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(get.body)).length, 12345)
  t.equal(up.connections, 1)
})

t.test('HEAD answered without Content-Length still keeps the socket', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () => s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'))
  })
  const c = client(t)
  for (let i = 0; i < 3; i++) {
    const res = await c.request({ method: 'HEAD', url: up.url, headers: {} })
    t.equal((await readAll(res.body)).length, 0)
  }
  t.equal(up.connections, 1)
})

t.test('204 and 304 have no body, whatever their headers say', async (t) => {
  const up = await rawServer(t, (s) => {
    let n = 0
    onRequestHeads(s, () => {
      if (n++ % 2 === 0) s.write('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n')
      else s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 999\r\nETag: "x"\r\n\r\n')
    })
  })
  const c = client(t)
  const a = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal(a.status, 204)
  t.equal((await readAll(a.body)).length, 0)
  const b = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal(b.status, 304)
  t.equal(b.statusText, 'Not Modified')
  t.equal((await readAll(b.body)).length, 0)
  t.equal(up.connections, 1)
})

t.test('1xx responses are skipped (100 Continue, 103 Early Hints)', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () => {
      s.write('HTTP/1.1 100 Continue\r\n\r\n')
      setTimeout(() => {
        s.write('HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok')
      }, 10)
    })
  })
  const res = await client(t).request({ method: 'POST', url: up.url, headers: {}, body: Buffer.from('{}') })
  t.equal(res.status, 201)
  t.equal(res.headers.link, undefined, 'interim headers do not leak into the final response')
  t.equal((await readAll(res.body)).toString(), 'ok')
})

t.test('response split byte by byte', async (t) => {
  const wire = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello'
  const up = await rawServer(t, (s) => {
    s.setNoDelay(true)
    onRequestHeads(s, async () => {
      for (const ch of wire) {
        s.write(ch)
        await new Promise((r) => setImmediate(r))
      }
    })
  })
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  t.equal(res.headers['x-a'], '1')
  t.equal((await readAll(res.body)).toString(), 'hello')
})

t.test('response headers: lowercase, repeats as arrays or joined, first singleton wins', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () =>
      s.write(
        'HTTP/1.1 401 Unauthorized Here\r\n' +
          'WWW-Authenticate: Bearer realm="https://auth",service="reg"\r\n' +
          'WWW-Authenticate: Basic realm="x"\r\n' +
          'Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n' +
          'Cache-Control: no-cache\r\nCache-Control: no-store\r\n' +
          'Content-Type: application/json\r\nContent-Type: text/plain\r\n' +
          'X-Single: v\r\nContent-Length: 2\r\n\r\n{}',
      ),
    )
  })
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  t.equal(res.status, 401)
  t.equal(res.statusText, 'Unauthorized Here')
  t.same(res.headers['www-authenticate'], ['Bearer realm="https://auth",service="reg"', 'Basic realm="x"'])
  t.same(res.headers['set-cookie'], ['a=1', 'b=2'])
  t.equal(res.headers['cache-control'], 'no-cache, no-store')
  t.equal(res.headers['content-type'], 'application/json')
  t.equal(res.headers['x-single'], 'v')
  t.equal(res.url.href, up.url.href)
  await readAll(res.body)
})

t.test('request head: origin-form target, Host, given headers, Content-Length, keep-alive', async (t) => {
  const heads: string[] = []
  const bodies: string[] = []
  const up = await httpServer(t, (req, res) => {
    heads.push(`${req.method} ${req.url}`)
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      bodies.push(body)
      res.end(JSON.stringify(req.headers))
    })
  })
  const c = client(t)
  const res = await c.request({
    method: 'POST',
    url: new URL('/token?scope=repository%3Alib%2Fx%3Apull&service=reg', up.url),
    headers: { 'content-type': 'application/x-www-form-urlencoded', Host: 'evil', Connection: 'close' },
    body: Buffer.from('grant_type=password'),
  })
  const seen = JSON.parse((await readAll(res.body)).toString()) as Record<string, string>
  t.same(heads, ['POST /token?scope=repository%3Alib%2Fx%3Apull&service=reg'])
  t.same(bodies, ['grant_type=password'])
  t.equal(seen.host, `127.0.0.1:${up.port}`, 'Host from the URL, with the non-default port')
  t.equal(seen['content-length'], '19')
  t.equal(seen.connection, 'keep-alive', 'the caller cannot set Connection')
  t.equal(seen['content-type'], 'application/x-www-form-urlencoded')
})

t.test('a header value with CR/LF is refused before anything is sent', async (t) => {
  const up = await httpServer(t, (_req, res) => res.end())
  await t.rejects(
    client(t).request({ method: 'GET', url: up.url, headers: { 'x-a': 'b\r\nX-Injected: 1' } }),
    TypeError,
  )
  t.equal(up.connections, 0)
})

t.test('ambiguous framing or an unwritable header is a protocol error and the socket is closed', async (t) => {
  const heads = [
    'Content-Length: 1\r\nTransfer-Encoding: chunked',
    'Content-Length: 2\r\nContent-Length: 2',
    'Content-Length: 2, 2',
    'Content-Length: 2e0',
    'Transfer-Encoding: gzip, chunked',
    'Content-Type: a\u0001b\r\nContent-Length: 2',
    'X(a): b\r\nContent-Length: 2',
  ]
  for (const head of heads) {
    const up = await rawServer(t, (s) => {
      onRequestHeads(s, () => s.write(`HTTP/1.1 200 OK\r\n${head}\r\n\r\n2\r\nok\r\n0\r\n\r\n`, 'latin1'))
    })
    const c = client(t)
    await t.rejects(c.request({ method: 'GET', url: up.url, headers: {} }), { name: 'UpstreamError', kind: 'protocol' }, JSON.stringify(head))
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.equal(up.openSockets, 0, `${JSON.stringify(head)}: socket closed`)
  }
})

t.test('header bytes above 0x7f arrive as sent (latin1), not as control characters', async (t) => {
  const up = await rawServer(t, (s) => {
    onRequestHeads(s, () => s.write('HTTP/1.1 200 OK\r\nETag: "caf\xe9\x80"\r\nContent-Length: 2\r\n\r\nok', 'latin1'))
  })
  const res = await client(t).request({ method: 'GET', url: up.url, headers: {} })
  t.equal(res.headers['etag'], '"caf\xe9\x80"')
  t.equal((await readAll(res.body)).toString(), 'ok')
})
