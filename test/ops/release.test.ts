// `make release`: a versioned tarball with dist/, bin/ and production
// dependencies only, whose bin/crproxy runs once unpacked elsewhere. dist/
// is built by `npm test` before the suite; `-o build` keeps make from
// rebuilding it under the feet of tests running in parallel.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { hasCommand } from './fixtures/helpers.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version

t.test('make release → tarball whose bin/crproxy --version runs', { skip: !hasCommand('make') && 'make not installed' }, async (t) => {
  const tmp = t.testdir({ out: {}, unpack: {} })
  const out = join(tmp, 'out')
  const r = spawnSync('make', ['-o', 'build', '-o', 'node_modules', 'release', `RELEASE_DIR=${out}`], { cwd: root, encoding: 'utf8', timeout: 120_000 })
  t.equal(r.status, 0, r.stderr)
  const tarball = join(out, `crproxy-${version}.tar.gz`)
  t.ok(existsSync(tarball), tarball)

  const unpack = join(tmp, 'unpack')
  t.equal(spawnSync('tar', ['-xzf', tarball, '-C', unpack]).status, 0)
  const dir = join(unpack, `crproxy-${version}`)
  const list = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).stdout
  t.match(list, `crproxy-${version}/dist/cli.js`)
  t.match(list, `crproxy-${version}/bin/healthcheck`)
  t.match(list, `crproxy-${version}/node_modules/minimist/`)
  t.notMatch(list, /node_modules\/(typescript|tap)\//, 'no dev dependencies')

  const v = spawnSync(process.execPath, [join(dir, 'bin/crproxy'), '--version'], { cwd: unpack, encoding: 'utf8', env: { PATH: process.env['PATH'] } })
  t.equal(v.status, 0, v.stderr)
  t.match(v.stdout, new RegExp(`^crproxy ${version.replace(/\./g, '\\.')} \\(built \\d{4}-\\d\\d-\\d\\dT`), 'version and build time stamped')
  const c = spawnSync(process.execPath, [join(dir, 'bin/crproxy'), 'config', 'docker', '--suffix', 'm.test'], { cwd: unpack, encoding: 'utf8' })
  t.equal(c.status, 0, 'the embedded registry map ships too')
  t.match(c.stdout, /docker\.m\.test:5000/)
})

