// deploy/: every example parses, names only flags and CRPROXY_* variables
// crproxy knows, probes /healthz on the port it listens on, and the
// Kubernetes ConfigMap holds exactly what `crproxy config containerd` prints.
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { parseAllDocuments, parse as parseYaml } from 'yaml'
import { main } from '../../lib/cli.js'
import { envName, flags, parseFlags } from '../../lib/flags.js'
import { hasCommand } from './fixtures/helpers.js'
import { splitFiles } from './fixtures/toml.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const deploy = join(root, 'deploy')
const read = (p: string) => readFileSync(join(deploy, p), 'utf8')
const knownEnv = new Set(flags.map((f) => envName(f.name)))

/** Throws like the CLI would on an unknown flag or a bad value. */
function checkArgs(t: Test, args: string[], what: string) {
  t.doesNotThrow(() => parseFlags(args, {}), `${what}: ${args.join(' ')}`)
}

t.test('every YAML file parses', async (t) => {
  const files = readdirSync(deploy, { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f))
  t.ok(files.length >= 4, files.join(', '))
  for (const f of files) {
    const docs = parseAllDocuments(read(f))
    const errors = (Array.isArray(docs) ? docs : [docs]).flatMap((d) => d.errors)
    t.same(errors, [], f)
  }
})

t.test('kubernetes: DaemonSet, Service, ConfigMap from `crproxy config containerd`', async (t) => {
  const docs = parseAllDocuments(read('kubernetes/crproxy.yaml')) as unknown as Array<{ toJS(): Record<string, any> }>
  const objs = docs.map((d) => d.toJS())
  t.same(objs.map((o) => o['kind']), ['Namespace', 'ConfigMap', 'DaemonSet', 'Service'])
  const cm = objs[1]!
  let out = ''
  t.equal(await main(['config', 'containerd', '--proxy', 'http://127.0.0.1:5000'], { env: {}, stdout: (s) => (out += s), stderr: () => {} }), 0)
  const expected = splitFiles(out)
  t.same(Object.keys(cm['data']).sort(), [...expected.keys()].map((k) => k.split('/')[4]).sort(), 'one hosts.toml per registry of the embedded map')
  for (const [path, text] of expected) {
    t.equal(cm['data'][path.split('/')[4]!].trim(), text.trim(), `${path} as crproxy prints it`)
  }
  const pod = objs[2]!['spec']['template']['spec']
  const c = pod['containers'][0]
  checkArgs(t, c['args'], 'DaemonSet args')
  for (const e of c['env'] ?? []) t.ok(knownEnv.has(e.name), `env ${e.name} is a crproxy variable`)
  const listen = parseFlags(c['args'], {})['listen'] as string
  t.equal(listen, ':5000')
  for (const probe of [c['readinessProbe'], c['livenessProbe']]) t.match(probe['httpGet'], { path: '/healthz', port: 5000 })
  t.equal(c['securityContext']['runAsNonRoot'], true)
  t.equal(pod['hostNetwork'], true)
  const svc = objs[3]!['spec']
  t.equal(svc['internalTrafficPolicy'], 'Local')
  t.same(svc['selector'], objs[2]!['spec']['selector']['matchLabels'])
})

t.test('compose and CI sidecars', async (t) => {
  const compose = parseYaml(read('compose/docker-compose.yml'))
  const svc = compose['services']['crproxy']
  checkArgs(t, svc['command'], 'compose command')
  for (const k of Object.keys(svc['environment'] ?? {})) t.ok(knownEnv.has(k), `env ${k}`)
  t.same(svc['ports'], ['5000:5000'])
  t.match(svc['volumes'][0], /:\/cache$/)

  const gh = parseYaml(read('ci/github-actions.yml'))
  const service = gh['jobs']['build']['services']['crproxy']
  t.match(service['options'], /--health-cmd "node \/app\/bin\/healthcheck"/)
  t.same(service['ports'], ['5000:5000'])

  const gl = parseYaml(read('ci/gitlab-ci.yml'))
  const [proxy, dind] = gl['build']['services']
  checkArgs(t, proxy['command'], 'gitlab service command')
  t.equal(proxy['alias'], 'crproxy')
  t.ok(dind['command'].includes('--registry-mirror=http://crproxy:5000'))
  t.equal(gl['variables']['FF_NETWORK_PER_BUILD'], 'true')

  // The warm-up steps: `crproxy prefetch` with flags it takes, at the proxy's port.
  const warmups = [
    { what: 'github', cmd: gh['jobs']['build']['steps'].find((s: { name?: string }) => s.name === 'Prefetch images')?.['run'], proxy: 'http://localhost:5000' },
    { what: 'gitlab', cmd: gl['build']['before_script']?.find((c: string) => c.includes(' prefetch ')), proxy: 'http://crproxy:5000' },
  ]
  for (const w of warmups) {
    t.type(w.cmd, 'string', `${w.what}: a prefetch step`)
    const m = /registry\.example\.com\/crproxy:\S+ (prefetch .*?)(?: <|$)/.exec(String(w.cmd).replace(/\s+/g, ' ').trim())
    t.ok(m, `${w.what}: runs the crproxy image's prefetch: ${w.cmd}`)
    const args = m![1]!.split(' ')
    t.same(args.slice(0, 3), ['prefetch', '--proxy', w.proxy], `${w.what}: through the sidecar`)
    const r = await main([...args, '--help'], { env: {}, stdout: () => {}, stderr: (s) => t.fail(s) })
    t.equal(r, 0, `${w.what}: crproxy takes ${args.join(' ')}`)
    t.match(w.cmd, /-f - < \.ci\/images\.txt/, `${w.what}: the list on stdin`)
  }
})

t.test('systemd unit', async (t) => {
  const unit = read('systemd/crproxy.service')
  for (const m of unit.matchAll(/^#?Environment=(CRPROXY_[A-Z_]+)=/gm)) t.ok(knownEnv.has(m[1]!), `${m[1]} is a crproxy variable`)
  for (const m of unit.matchAll(/^#\s+(CRPROXY_[A-Z_]+)=/gm)) t.ok(knownEnv.has(m[1]!), `${m[1]} (comment) is a crproxy variable`)
  t.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m)
  t.match(unit, /^KillMode=mixed$/m)
  if (!hasCommand('systemd-analyze')) return
  const dir = t.testdir()
  const copy = join(dir, 'crproxy.service')
  writeFileSync(copy, unit.replace('/opt/crproxy/bin/crproxy', join(root, 'bin/crproxy')))
  const r = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8', timeout: 20_000 })
  t.equal(r.status, 0, `systemd-analyze verify: ${r.stderr}`)
  t.equal(r.stderr.split('\n').filter((l) => l.includes('crproxy.service')).join('\n'), '', 'no warnings about the unit')
})
