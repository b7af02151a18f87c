// --verify-on-serve / --verify-every-serve (and their CRPROXY_* variables)
// reach the blob cache: hashed on every serve, once per file state (the
// default), or not at all.
import t from 'tap'
import { main } from '../../lib/cli.js'
import type { RunningProxy } from '../../lib/proxy.js'

t.test('the three verify modes, from flags and from the environment', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, string]> = [
    [[], {}, 'once-per-file-state'],
    [['--verify-every-serve'], {}, 'every-serve'],
    [[], { CRPROXY_VERIFY_EVERY_SERVE: 'true' }, 'every-serve'],
    [['--no-verify-on-serve'], {}, 'off'],
    [[], { CRPROXY_VERIFY_ON_SERVE: 'false' }, 'off'],
  ]
  for (const [argv, env, mode] of cases) {
    let stop!: () => void
    let onListening!: (p: RunningProxy) => void
    const listening = new Promise<RunningProxy>((r) => (onListening = r))
    const exited = main(['--listen', '127.0.0.1:0', '--default-registry', 'http://127.0.0.1:1', '--cache-dir', t.testdir(), ...argv], {
      env,
      stdout: () => {},
      stderr: () => {},
      shutdown: new Promise<void>((r) => (stop = r)),
      onListening,
    })
    const proxy = await listening
    t.equal(proxy.deps.cache?.verifyMode, mode, [...argv, ...Object.keys(env)].join(' ') || 'no flag')
    stop()
    t.equal(await exited, 0)
  }
})
