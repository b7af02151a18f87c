// The limit flags from the command line and the environment: wired through
// to the running proxy, and refused with exit code 2 when malformed.
import http from 'node:http'
import net from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../../lib/cli.js'
import type { RunningProxy } from '../../lib/proxy.js'
import { fetchOutcome } from './fixtures/harness.js'
import { rawRequest } from './fixtures/raw-http.js'

function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stderr = ''
  let stop!: () => void
  const shutdown = new Promise<void>((r) => (stop = r))
  let onListening!: (p: RunningProxy) => void
  const listening = new Promise<RunningProxy>((r) => (onListening = r))
  const exited = main(argv, { env, stdout: () => {}, stderr: (s) => void (stderr += s), shutdown, onListening })
  return { exited, listening, stop, stderr: () => stderr }
}

t.test('--max-conns-per-client and --max-upstream-inflight from flags and environment', async (t) => {
  const map = join(t.testdir(), 'map.json')
  writeFileSync(map, JSON.stringify({ default: 'http://127.0.0.1:9' }))
  const r = run(['--listen', '127.0.0.1:0', '--registry-map', map, '--max-conns-per-client', '1', '--redirect-allow', 'minio.internal, 10.0.0.0/8'], {
    CRPROXY_MAX_UPSTREAM_INFLIGHT: '7',
  })
  const proxy = await r.listening
  t.teardown(() => r.stop())
  const held = await new Promise<net.Socket>((resolve) => {
    const s = net.connect(proxy.port, '127.0.0.1', () => resolve(s))
  })
  await new Promise((res) => setTimeout(res, 50))
  const o = await fetchOutcome(proxy.url, '/healthz')
  t.equal(o.status, 429, 'a second connection from the same address: 429')
  held.destroy()
  await new Promise((res) => setTimeout(res, 50))
  t.equal((await fetchOutcome(proxy.url, '/healthz')).status, 200, 'one connection: fine')
  r.stop()
  t.equal(await r.exited, 0)
})

t.test('malformed values exit 2', async (t) => {
  for (const [argv, env] of [
    [['--max-conns-per-client=-1'], {}],
    [['--max-conns-per-client', 'many'], {}],
    [['--max-upstream-inflight', '1.5'], {}],
    [[], { CRPROXY_MAX_UPSTREAM_INFLIGHT: 'lots' }],
    [['--upstream-sockets-per-client', '0'], {}],
    [['--upstream-sockets-per-client', '33'], {}],
    [['--upstream-max-sockets', '4'], { CRPROXY_UPSTREAM_SOCKETS_PER_CLIENT: '5' }],
    [['--upstream-queue-timeout', 'soon'], {}],
    [['--tls-handshake-timeout=-1'], {}],
    [[], { CRPROXY_TLS_HANDSHAKE_TIMEOUT: '0' }],
  ] as Array<[string[], NodeJS.ProcessEnv]>) {
    const r = run(['--listen', '127.0.0.1:0', ...argv], env)
    t.equal(await r.exited, 2, `${argv.join(' ') || JSON.stringify(env)} → exit 2`)
    t.match(r.stderr(), /max-(conns-per-client|upstream-inflight)|upstream-sockets-per-client|upstream-queue-timeout|tls-handshake-timeout/, 'naming the flag')
  }
})

t.test('--upstream-sockets-per-client and --upstream-queue-timeout from flags and environment', async (t) => {
  // An upstream that holds every request until the end of the test.
  const held: http.ServerResponse[] = []
  const up = http.createServer((_req, res) => void held.push(res))
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    for (const res of held) res.end('{}')
    up.closeAllConnections()
    up.close()
  })
  const map = join(t.testdir(), 'map.json')
  writeFileSync(map, JSON.stringify({ default: `http://127.0.0.1:${(up.address() as net.AddressInfo).port}` }))
  const r = run(['--listen', '127.0.0.1:0', '--registry-map', map, '--upstream-max-sockets', '2', '--upstream-queue-timeout', '300ms'], {
    CRPROXY_UPSTREAM_SOCKETS_PER_CLIENT: '2',
  })
  const proxy = await r.listening
  t.teardown(() => r.stop())
  const ping = 'GET /v2/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'
  const mine = [rawRequest(proxy.port, ping, { timeoutMs: 10_000 }), rawRequest(proxy.port, ping, { timeoutMs: 10_000 })]
  const deadline = Date.now() + 5000
  while (held.length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20))
  t.equal(held.length, 2, 'one address may hold both sockets (the default share would be one)')
  const other = await rawRequest(proxy.port, ping, { localAddress: '127.0.0.2', timeoutMs: 10_000 })
  t.equal(other.status, 503, `another address waits 300 ms, then gets 503 (${other.ms} ms)`)
  for (const res of held) res.end('{}')
  for (const o of await Promise.all(mine)) t.equal(o.status, 200)
  r.stop()
  t.equal(await r.exited, 0)
})
