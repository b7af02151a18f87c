// `crproxy config containerd|podman|docker`: the printed files parse, name
// every registry of the map once, and the mirror hosts they name route to
// the right upstream on a proxy with the same suffix.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../../lib/cli.js'
import { ProxyError } from '../../lib/errors.js'
import { Router } from '../../lib/registry/route.js'
import { UpstreamSet } from '../../lib/registry/upstreams.js'
import { parseToml, splitFiles, type TomlTable } from './fixtures/toml.js'

const map = {
  default: 'https://registry-1.docker.io',
  docker: 'https://registry-1.docker.io',
  gcr: 'https://gcr.io',
  quay: 'https://quay.io',
  local: 'http://127.0.0.1:5999',
}

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = ''
  let stderr = ''
  const code = await main(['config', ...argv], { env, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) })
  return { code, stdout, stderr }
}

const dir = t.testdir()
const mapFile = join(dir, 'map.json')
writeFileSync(mapFile, JSON.stringify(map))
const router = new Router(new UpstreamSet(map), 'mirror.test')

/** The map key a client naming `host` (and containerd's ?ns=) reaches. */
function routesTo(host: string, ns: string | null = null): string {
  const u = router.resolve({ host, ns })
  return u instanceof ProxyError ? `error ${u.status}` : u.key
}

t.test('containerd: one hosts.toml per registry, Docker Hub as docker.io', async (t) => {
  const r = await run(['containerd', '--suffix', 'mirror.test', '--proxy', 'http://crproxy:5000', '--registry-map', mapFile])
  t.equal(r.code, 0, r.stderr)
  const files = splitFiles(r.stdout)
  t.same(
    [...files.keys()].sort(),
    ['docker.io', 'gcr.io', 'quay.io', '127.0.0.1:5999'].map((h) => `/etc/containerd/certs.d/${h}/hosts.toml`).sort(),
    'default is folded into docker: one file per registry',
  )
  const servers: Record<string, string> = {}
  for (const [name, text] of files) {
    const registry = name.split('/')[4] as string
    const toml = parseToml(text)
    servers[registry] = toml['server'] as string
    const hosts = Object.entries(toml['host'] as TomlTable)
    t.equal(hosts.length, 1, `${registry}: one mirror host`)
    const [mirror, cfg] = hosts[0] as [string, TomlTable]
    t.same(cfg['capabilities'], ['pull', 'resolve'])
    const u = new URL(mirror)
    t.equal(u.protocol, 'http:')
    t.equal(u.port, '5000')
    const ns = registry
    t.equal(routesTo(u.host, ns), { 'docker.io': 'docker', 'gcr.io': 'gcr', 'quay.io': 'quay', '127.0.0.1:5999': 'local' }[registry], `${mirror} routes to its registry`)
  }
  t.same(servers, {
    'docker.io': 'https://registry-1.docker.io',
    'gcr.io': 'https://gcr.io',
    'quay.io': 'https://quay.io',
    '127.0.0.1:5999': 'http://127.0.0.1:5999',
  })
})

t.test('containerd without a suffix: every file names the proxy itself (routing by ?ns=)', async (t) => {
  const r = await run(['containerd', '--proxy', 'http://10.0.0.5:5000', '--registry-map', mapFile])
  t.equal(r.code, 0, r.stderr)
  const routerNoSuffix = new Router(new UpstreamSet(map), '')
  for (const [name, text] of splitFiles(r.stdout)) {
    const registry = name.split('/')[4] as string
    const hosts = Object.keys(parseToml(text)['host'] as TomlTable)
    t.same(hosts, ['http://10.0.0.5:5000'])
    const u = routerNoSuffix.resolve({ host: '10.0.0.5:5000', ns: registry })
    t.notOk(u instanceof ProxyError, `?ns=${registry} is routed`)
  }
})

t.test('--default-registry adds its own entry, reached at the bare suffix', async (t) => {
  const r = await run(['containerd', '--suffix', 'mirror.test', '--proxy', 'https://mirror.test', '--registry-map', mapFile, '--default-registry', 'https://registry.example.org'])
  t.equal(r.code, 0)
  const text = splitFiles(r.stdout).get('/etc/containerd/certs.d/registry.example.org/hosts.toml')
  t.ok(text, 'a file for the default registry')
  const toml = parseToml(text!)
  t.equal(toml['server'], 'https://registry.example.org')
  t.same(Object.keys(toml['host'] as TomlTable), ['https://mirror.test'], 'https, no port: the bare suffix')
  t.equal(routesTo('mirror.test'), 'default')
})

t.test('podman: [[registry]] + [[registry.mirror]] per registry; insecure only over http', async (t) => {
  const r = await run(['podman', '--suffix', 'mirror.test', '--proxy', 'http://crproxy:5000', '--registry-map', mapFile])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^# \/etc\/containers\/registries\.conf\.d\/crproxy\.conf\n/)
  const regs = parseToml(r.stdout)['registry'] as TomlTable[]
  const byLocation = Object.fromEntries(regs.map((x) => [x['location'] as string, x['mirror'] as TomlTable[]]))
  t.same(Object.keys(byLocation).sort(), ['127.0.0.1:5999', 'docker.io', 'gcr.io', 'quay.io'])
  t.same(byLocation['docker.io'], [{ location: 'docker.mirror.test:5000', insecure: true }])
  t.same(byLocation['gcr.io'], [{ location: 'gcr.mirror.test:5000', insecure: true }])
  for (const [registry, mirrors] of Object.entries(byLocation)) {
    const host = (mirrors[0] as TomlTable)['location'] as string
    t.not(routesTo(host), 'error 404', `${registry}: ${host} routes (no ?ns= needed)`)
  }
  const s = await run(['podman', '--suffix', 'mirror.test', '--proxy', 'https://mirror.test', '--registry-map', mapFile])
  const secure = parseToml(s.stdout)['registry'] as TomlTable[]
  const hub = secure.find((x) => x['location'] === 'docker.io')
  t.same(hub?.['mirror'], [{ location: 'docker.mirror.test' }], 'https: no insecure, no port')
})

t.test('podman without a suffix: the default registry only', async (t) => {
  const r = await run(['podman', '--proxy', 'http://crproxy:5000', '--registry-map', mapFile])
  const regs = parseToml(r.stdout)['registry'] as TomlTable[]
  t.same(regs, [{ location: 'docker.io', mirror: [{ location: 'crproxy:5000', insecure: true }] }])
  t.match(r.stdout, /only the default registry/)
})

t.test('docker: registry-mirrors for Docker Hub only; insecure-registries over http', async (t) => {
  const r = await run(['docker', '--suffix', 'mirror.test', '--proxy', 'http://crproxy:5000', '--registry-map', mapFile])
  t.equal(r.code, 0)
  const d = JSON.parse(r.stdout) as Record<string, string[]>
  t.same(d['registry-mirrors'], ['http://docker.mirror.test:5000'])
  t.same(d['insecure-registries']!.sort(), ['docker.mirror.test:5000', 'gcr.mirror.test:5000', 'local.mirror.test:5000', 'quay.mirror.test:5000'])
  const s = JSON.parse((await run(['docker', '--suffix', 'mirror.test', '--proxy', 'https://mirror.test', '--registry-map', mapFile])).stdout)
  t.same(s, { 'registry-mirrors': ['https://docker.mirror.test'] }, 'https: no insecure-registries')
  const none = await run(['docker', '--proxy', 'http://p:5000', '--registry-map', mapFile, '--default-registry', 'https://quay.io'])
  t.same(JSON.parse(none.stdout)['registry-mirrors'], [], 'default is not Docker Hub and no suffix: nothing to mirror')
  t.match(none.stderr, /registry-mirrors is empty/)
})

t.test('the environment supplies the suffix and map like it does for the proxy', async (t) => {
  const r = await run(['docker', '--proxy', 'http://crproxy:5000'], { CRPROXY_DOMAIN_SUFFIX: 'env.test', CRPROXY_REGISTRY_MAP: mapFile })
  t.same(JSON.parse(r.stdout)['registry-mirrors'], ['http://docker.env.test:5000'])
  const embedded = await run(['containerd', '--suffix', 'm.test'])
  t.equal(splitFiles(embedded.stdout).size, 7, 'embedded map: 7 registries (default folded into docker)')
})

t.test('bad input: exit 2, one line', async (t) => {
  for (const [argv, re] of [
    [['kubernetes'], /expected containerd, podman or docker/],
    [[], /expected containerd/],
    [['docker', '--bogus'], /unknown flag --bogus/],
    [['docker', 'extra'], /unexpected argument "extra"/],
    [['docker', '--proxy', 'ftp://x'], /--proxy/],
    [['docker', '--registry-map', join(dir, 'missing.json')], /cannot read/],
  ] as const) {
    const r = await run([...argv])
    t.equal(r.code, 2, argv.join(' '))
    t.match(r.stderr, re)
    t.equal(r.stderr.trim().split('\n').length, 1)
  }
  const help = await run(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /crproxy config containerd\|podman\|docker/)
})

t.test('--output-dir writes the files (containerd, podman), says what it wrote, and matches what is printed', async (t) => {
  const out = t.testdir()
  const args = ['--suffix', 'mirror.test', '--proxy', 'http://crproxy:5000', '--registry-map', mapFile]
  const printed = splitFiles((await run(['containerd', ...args])).stdout)
  const r = await run(['containerd', ...args, '--output-dir', join(out, 'certs.d')])
  t.equal(r.code, 0, r.stderr)
  const wrote = r.stdout.trim().split('\n')
  t.equal(wrote.length, printed.size, 'one line per file written')
  for (const [name, text] of printed) {
    const rel = name.slice('/etc/containerd/certs.d/'.length)
    const path = join(out, 'certs.d', rel)
    t.ok(wrote.some((l) => l.startsWith(`wrote ${path} `) && l.endsWith(`(${name})`)), `reported: ${path}`)
    t.equal(readFileSync(path, 'utf8').trim(), text.trim(), `${rel} as printed`)
  }
  const p = await run(['podman', ...args, '--output-dir', join(out, 'registries.conf.d')])
  t.equal(p.code, 0, p.stderr)
  t.match(p.stdout, `wrote ${join(out, 'registries.conf.d', 'crproxy.conf')}`)
  const podmanPrinted = (await run(['podman', ...args])).stdout
  t.equal(readFileSync(join(out, 'registries.conf.d', 'crproxy.conf'), 'utf8'), podmanPrinted.replace(/^# .*\n/, ''), 'podman drop-in as printed')
  const d = await run(['docker', ...args, '--output-dir', out])
  t.equal(d.code, 2)
  t.match(d.stderr, /--output-dir does not apply: \/etc\/docker\/daemon.json holds other settings/)
  writeFileSync(join(out, 'a-file'), '')
  const bad = await run(['containerd', ...args, '--output-dir', join(out, 'a-file')])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /^crproxy: config: cannot write .*a-file.*: not a directory \(ENOTDIR\)\n$/)
})
