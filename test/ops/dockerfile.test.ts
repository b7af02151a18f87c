// The Dockerfile, without a Docker engine: lint it, then replay its runtime
// stage in a temporary directory (the COPYs, `npm ci --omit=dev
// --ignore-scripts`), run the ENTRYPOINT with --version, and run the
// HEALTHCHECK against instances started the ways a user would start the
// container (-listen flag, CRPROXY_LISTEN, TLS).
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { selfSigned } from '../fixtures/certs.js'
import { hasCommand } from './fixtures/helpers.js'
import { freePort } from '../fixtures/real/proc.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

interface Instruction {
  op: string
  args: string
}

function parseDockerfile(text: string): Instruction[][] {
  const joined = text.replace(/\\\n/g, ' ')
  const stages: Instruction[][] = []
  for (const line of joined.split('\n')) {
    const l = line.trim()
    if (!l || l.startsWith('#')) continue
    const m = /^([A-Za-z]+)\s+(.*)$/.exec(l)
    if (!m) continue
    const ins = { op: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ').trim() }
    if (ins.op === 'FROM') stages.push([])
    stages[stages.length - 1]?.push(ins)
  }
  return stages
}

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
const stages = parseDockerfile(dockerfile)
const runtime = stages[stages.length - 1]!
const get = (op: string) => runtime.filter((i) => i.op === op).map((i) => i.args)

const lint = join(root, 'node_modules/.bin/dockerfilelint')
t.test('dockerfilelint passes', { skip: !existsSync(lint) && 'dockerfilelint not installed (a devDependency: npm ci)' }, async (t) => {
  const r = spawnSync(lint, ['Dockerfile'], { cwd: root, encoding: 'utf8', timeout: 20_000 })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /Issues: None found/)
})

t.test('runtime stage: multi-stage, non-root, port, volume, healthcheck, entrypoint', async (t) => {
  t.equal(stages.length, 2, 'a build stage and a runtime stage')
  t.match(stages[0]![0]!.args, / AS build$/)
  t.match(dockerfile, /^ARG NODE_VERSION=\d+$/m)
  t.match(runtime[0]!.args, /^node:\$\{NODE_VERSION\}-bookworm-slim$/)
  const user = get('USER')
  t.same(user, ['node'], 'runs as the unprivileged node user')
  t.same(get('EXPOSE'), ['5000'])
  t.same(get('VOLUME'), ['/cache'])
  t.same(get('ENTRYPOINT'), ['["node", "/app/bin/crproxy"]'])
  t.match(get('HEALTHCHECK')[0], /CMD \["node", "\/app\/bin\/healthcheck"\]$/)
  t.ok(get('RUN').some((r) => /npm ci --omit=dev --ignore-scripts/.test(r)), 'production dependencies only, no prepare script')
})

t.test('replay: COPY + npm ci, ENTRYPOINT --version, HEALTHCHECK', async (t) => {
  const tmp = t.testdir()
  let workdir = '/'
  const inImage = (p: string) => join(tmp, p.startsWith('/') ? p : join(workdir, p))
  const buildWorkdir = stages[0]!.filter((i) => i.op === 'WORKDIR').pop()?.args ?? '/'
  const skipped: string[] = []
  for (const { op, args } of runtime) {
    if (op === 'WORKDIR') {
      workdir = args
      mkdirSync(inImage(args), { recursive: true })
    } else if (op === 'COPY') {
      const words = args.split(' ')
      const from = words[0]!.startsWith('--from=') ? words.shift()!.slice(7) : undefined
      const dest = words.pop()!
      for (const src of words) {
        // From the build stage: its WORKDIR is this checkout (dist/ is built by npm test).
        const local = from ? join(root, src.replace(new RegExp(`^${buildWorkdir}/?`), '')) : join(root, src)
        const target = dest.endsWith('/') ? join(inImage(dest), src.split('/').pop()!) : inImage(dest)
        mkdirSync(dirname(target), { recursive: true })
        cpSync(local, target, { recursive: true })
      }
    } else if (op === 'RUN') {
      for (const cmd of args.split('&&').map((s) => s.trim())) {
        if (!cmd.startsWith('npm ci')) {
          skipped.push(cmd)
          continue
        }
        const r = spawnSync('sh', ['-c', `${cmd} --prefer-offline`], { cwd: inImage('.'), encoding: 'utf8', timeout: 120_000 })
        t.equal(r.status, 0, `${cmd}: ${r.stderr}`)
      }
    }
  }
  t.comment(`not replayed (image-only): ${skipped.join(' | ')}`)
  const app = inImage('.')
  t.ok(existsSync(join(app, 'node_modules/minimist')), 'runtime dependencies installed')
  t.notOk(existsSync(join(app, 'node_modules/typescript')), 'no dev dependencies')
  t.notOk(existsSync(join(app, 'node_modules/tap')), 'no tap')
  t.notOk(existsSync(join(app, 'lib')), 'no TypeScript sources')

  // ENTRYPOINT ["node", "/app/bin/crproxy"] + --version
  const entry = JSON.parse(get('ENTRYPOINT')[0]!) as string[]
  const entryArgs = entry.slice(1).map((a) => (a.startsWith('/') ? join(tmp, a) : a))
  const v = spawnSync(process.execPath, [...entryArgs, '--version'], { cwd: app, encoding: 'utf8', env: { PATH: process.env['PATH'], NODE_ENV: 'production' } })
  t.equal(v.status, 0, v.stderr)
  t.match(v.stdout, /^crproxy \d+\.\d+\.\d+ \(built /)

  const hc = JSON.parse(/CMD (\[.*\])$/.exec(get('HEALTHCHECK')[0]!)![1]!) as string[]
  const hcArgs = hc.slice(1).map((a) => (a.startsWith('/') ? join(tmp, a) : a))
  const healthcheck = (pid: number | undefined, env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, hcArgs, {
      encoding: 'utf8',
      timeout: 10_000,
      env: { PATH: process.env['PATH'], ...(pid ? { CRPROXY_HEALTHCHECK_PID: String(pid) } : {}), ...env },
    })
  const start = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const p = await startCliProxy(args, { listen: false, env: { NODE_ENV: 'production', ...env } })
    t.teardown(() => p.close())
    return p
  }

  // `docker run crproxy -listen=:8080` (the Go spelling, all interfaces)
  const port1 = await freePort()
  const a = await start([`-listen=:${port1}`])
  let r = healthcheck(a.proc.pid)
  t.equal(r.status, 0, `healthy via the flag in its command line ${r.stderr}`)

  // `docker run -e CRPROXY_LISTEN=127.0.0.1:N crproxy`: read from the process's environment
  const port2 = await freePort()
  const b = await start([], { CRPROXY_LISTEN: `127.0.0.1:${port2}` })
  r = healthcheck(b.proc.pid)
  t.equal(r.status, 0, `healthy via CRPROXY_LISTEN in its environment ${r.stderr}`)

  if (hasCommand('openssl')) {
    const cert = selfSigned(tmp, 'hc')
    const port3 = await freePort()
    const c = await start(['--listen', `127.0.0.1:${port3}`, '--tls-cert', cert.certFile, '--tls-key', cert.keyFile])
    r = healthcheck(c.proc.pid)
    t.equal(r.status, 0, `healthy over https ${r.stderr}`)
  }

  const gone = b.proc.pid
  await b.close()
  r = healthcheck(gone, { CRPROXY_LISTEN: `127.0.0.1:${port2}` })
  t.equal(r.status, 1, 'unhealthy when nothing answers')
  t.match(r.stderr, /ECONNREFUSED/)
})
