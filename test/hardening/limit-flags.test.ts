// The limit flags from the command line and the environment: wired through
// to the running proxy, and refused with exit code 2 when malformed.
import net from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../../lib/cli.js'
import type { RunningProxy } from '../../lib/proxy.js'
import { fetchOutcome } from './fixtures/harness.js'

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
  ] as Array<[string[], NodeJS.ProcessEnv]>) {
    const r = run(['--listen', '127.0.0.1:0', ...argv], env)
    t.equal(await r.exited, 2, `${argv.join(' ') || JSON.stringify(env)} → exit 2`)
    t.match(r.stderr(), /max-(conns-per-client|upstream-inflight)/, 'naming the flag')
  }
})
