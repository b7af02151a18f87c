// --stale-if-error / CRPROXY_STALE_IF_ERROR: a duration (24h, 90m) that
// reaches the manifest cache; a bad value is a configuration error (exit 2).
import t from 'tap'
import { main } from '../../lib/cli.js'
import type { RunningProxy } from '../../lib/proxy.js'

function start(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stderr = ''
  let stop!: () => void
  let onListening!: (p: RunningProxy) => void
  const shutdown = new Promise<void>((r) => (stop = r))
  const listening = new Promise<RunningProxy>((r) => (onListening = r))
  const exited = main(['--listen', '127.0.0.1:0', '--default-registry', 'http://127.0.0.1:1', ...argv], {
    env,
    stdout: () => {},
    stderr: (s) => (stderr += s),
    shutdown,
    onListening,
  })
  return { listening, exited, stop, stderr: () => stderr }
}

t.test('--stale-if-error 24h and CRPROXY_STALE_IF_ERROR=90m', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, number]> = [
    [['--cache-dir', t.testdir(), '--stale-if-error', '24h'], {}, 24 * 3_600_000],
    [['-cache-dir', t.testdir()], { CRPROXY_STALE_IF_ERROR: '90m' }, 90 * 60_000],
    [['--cache-dir', t.testdir()], {}, 0],
  ]
  for (const [argv, env, ms] of cases) {
    const run = start(argv, env)
    const proxy = await run.listening
    t.equal(proxy.deps.manifests?.staleIfError, ms, argv.concat(Object.keys(env)).join(' '))
    run.stop()
    t.equal(await run.exited, 0)
  }
})

t.test('a bad duration: exit 2 with one line', async (t) => {
  const run = start(['--stale-if-error', 'a-while'])
  t.equal(await run.exited, 2)
  t.match(run.stderr(), /^crproxy: --stale-if-error: "a-while" is not a duration/)
  t.equal(run.stderr().trim().split('\n').length, 1)
})
