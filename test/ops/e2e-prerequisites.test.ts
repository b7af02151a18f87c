// `npm test` names, in one line before the suite, the tools the real-client
// e2e tests need that are missing (and their Debian packages), instead of
// leaving a bare "skip: 7" in tap's summary; under CI it fails instead.
import { spawnSync } from 'node:child_process'
import { chmodSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const script = fileURLToPath(new URL('../../scripts/e2e-prerequisites.mjs', import.meta.url))
const run = (env: NodeJS.ProcessEnv) => spawnSync(process.execPath, [script], { env: { PATH: t.testdir(), ...env }, encoding: 'utf8' })

t.test('missing tools: one line naming each and its package; exit 0 locally, 1 under CI', async (t) => {
  const local = run({})
  t.equal(local.status, 0)
  const lines = local.stderr.trim().split('\n')
  t.equal(lines.length, 1, 'one line: ' + local.stderr.trim())
  t.match(lines[0], /^e2e prerequisites missing: .*htpasswd \(apache2-utils\).*will be skipped; install with: sudo \.ci\/install\.sh$/)
  const ci = run({ CI: 'true' })
  t.equal(ci.status, 1, 'CI fails')
  t.match(ci.stderr, /htpasswd \(apache2-utils\).*CI must run every e2e test/)
})

t.test('all present: silent', async (t) => {
  const tools = Object.keys(JSON.parse(readFileSync(new URL('../fixtures/real/tools.json', import.meta.url), 'utf8')) as object)
  const bin = t.testdir(Object.fromEntries(tools.map((n) => [n, '#!/bin/sh\n'])))
  for (const n of tools) chmodSync(join(bin, n), 0o755)
  const r = spawnSync(process.execPath, [script], { env: { PATH: bin, CI: 'true' }, encoding: 'utf8' })
  t.equal(r.status, 0)
  t.equal(r.stderr, '', 'nothing to say')
})

t.test('npm test runs it before tap; .ci/run fails on any e2e skip', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  t.match(pkg.scripts.test, /node scripts\/e2e-prerequisites\.mjs && tap/)
  t.match(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8'), /e2e tests skipped in CI/)
})
