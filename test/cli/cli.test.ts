// The real CLI as users run it: flags (both spellings), environment
// variables, and one clear line with a non-zero exit for every bad start.
import { spawn, spawnSync } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { binPath, spawnCrproxy } from '../fixtures/cli-proxy.js'
import { flags } from '../../lib/flags.js'
import { request } from '../fixtures/proxy.js'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { freePort } from '../fixtures/real/proc.js'

/**
 * As root, permission checks need another user: nobody. tap's process-info
 * hook (NODE_OPTIONS) would fail writing its report as nobody, so it is unset.
 */
const asNobody = process.getuid?.() === 0
const dropTo = ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'NODE_OPTIONS', process.execPath]

function command(args: string[], nobody: boolean): [string, string[]] {
  return nobody ? ['setpriv', [...dropTo, binPath, ...args]] : [process.execPath, [binPath, ...args]]
}

function run(args: string[], env: NodeJS.ProcessEnv = {}, nobody = false) {
  const r = spawnSync(...command(args, nobody), {
    env: { PATH: process.env['PATH'], ...env },
    encoding: 'utf8',
    timeout: 15_000,
  })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

function oneCleanLine(t: Test, r: ReturnType<typeof run>, pattern: RegExp) {
  t.equal(r.code, 2, 'exit code 2')
  const lines = r.stderr.trim().split('\n')
  t.equal(lines.length, 1, 'one line: ' + r.stderr.trim())
  t.match(lines[0], pattern)
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace')
}

/** Starts the CLI with exactly these args and waits for /healthz. */
async function startWith(t: Test, args: string[], port: number, env: NodeJS.ProcessEnv = {}, nobody = false) {
  const proc = spawn(...command(args, nobody), { env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  proc.stderr!.on('data', (c: Buffer) => (err += c))
  t.teardown(() => {
    proc.kill('SIGKILL')
  })
  for (let i = 0; i < 100; i++) {
    try {
      const r = await request(`http://127.0.0.1:${port}`, '/healthz')
      if (r.status === 200) return { proc, log: () => err }
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('did not become healthy: ' + err)
}

t.test('--help lists every flag and its environment variable; -h too', async (t) => {
  const r = run(['--help'])
  t.equal(r.code, 0)
  for (const f of flags) {
    t.match(r.stdout, `--${f.name}`)
  }
  t.match(r.stdout, 'CRPROXY_LISTEN')
  t.equal(run(['-h']).stdout, r.stdout)
  t.equal(run(['-help']).stdout, r.stdout, 'the Go spelling')
})

t.test('--version prints version and build time', async (t) => {
  const r = run(['-version'])
  t.equal(r.code, 0)
  t.match(r.stdout, /^crproxy \d+\.\d+\.\d+ \(built \d{4}-\d\d-\d\dT[\d:.]+Z/)
})

t.test('CRPROXY_HELP and CRPROXY_VERSION in the environment do not turn a start into an exit 0', async (t) => {
  for (const env of [{ CRPROXY_VERSION: '1' }, { CRPROXY_HELP: 'true' }]) {
    const port = await freePort()
    const p = await startWith(t, ['--listen', `127.0.0.1:${port}`], port, env)
    t.equal(p.proc.exitCode, null, `${Object.keys(env)[0]} ignored: the proxy serves`)
    p.proc.kill('SIGTERM')
  }
  const r = run(['--help'])
  t.notMatch(r.stdout, /CRPROXY_HELP|CRPROXY_VERSION/, '--help does not offer them as variables')
})

t.test('contradictory or invalid values: exit 2 naming the flag and the value', async (t) => {
  oneCleanLine(t, run(['--stale-if-error', '24h']), /--stale-if-error needs --cache-dir/)
  oneCleanLine(t, run([], { CRPROXY_STALE_IF_ERROR: '1h' }), /--stale-if-error needs --cache-dir/)
  oneCleanLine(t, run(['--cache-max-size', '1GiB']), /--cache-max-size needs --cache-dir/)
  const dir = t.testdir()
  oneCleanLine(t, run(['--cache-dir', dir, '--no-verify-on-serve', '--verify-every-serve']), /--verify-every-serve contradicts --no-verify-on-serve/)
  oneCleanLine(t, run(['--cache-dir', dir, '--cache-max-size', '-5']), /--cache-max-size: invalid size "-5"/)
  oneCleanLine(t, run(['--workers', '-1']), /--workers: invalid value "-1"/)
  oneCleanLine(t, run(['-workers', '-1']), /--workers: invalid value "-1"/)
  oneCleanLine(t, run(['--connect-timeout', '-5s']), /--connect-timeout: "-5s" is not a duration/)
})

t.test('an unusable --cache-dir: exit 2 with one line naming the path and the reason', async (t) => {
  const dir = t.testdir({ 'a-file': 'x', locked: {} })
  chmodSync(join(dir, 'locked'), 0o000) // empty: t.testdir() still removes it
  const file = join(dir, 'a-file')
  oneCleanLine(t, run(['--cache-dir', file]), new RegExp(`--cache-dir ${file}: cannot use: not a directory \\(ENOTDIR\\)`))
  oneCleanLine(t, run(['--cache-dir', join(file, 'sub')]), /--cache-dir .*a-file.*not a directory \(ENOTDIR\)/)
  oneCleanLine(t, run(['--cache-dir', '/proc/nope']), /--cache-dir \/proc\/nope: cannot create: no such file or directory \(ENOENT\)/)
  oneCleanLine(t, run(['--cache-dir', '/proc/nope/deeper']), /--cache-dir \/proc\/nope: cannot create/)
  oneCleanLine(t, run(['--cache-dir', join(dir, 'locked')], {}, asNobody), /locked: cannot read: permission denied \(EACCES\)/)
  oneCleanLine(t, run(['--cache-dir', join(dir, 'locked', 'sub')], {}, asNobody), /locked.sub: cannot use: permission denied \(EACCES\)/)
  // EPERM: creating a directory inside /sys (a kernel filesystem) is not permitted, even to root.
  oneCleanLine(t, run(['--cache-dir', '/sys/crproxy-cache']), /--cache-dir \/sys\/crproxy-cache: cannot create: .*\((EPERM|EACCES)\)/)
})

t.test('a --cache-dir that exists but cannot be written still starts (serve what is cached)', async (t) => {
  const dir = t.testdir({ ro: {} })
  chmodSync(join(dir, 'ro'), 0o555)
  const port = await freePort()
  const p = await startWith(t, ['--listen', `127.0.0.1:${port}`, '--cache-dir', join(dir, 'ro')], port, {}, asNobody)
  t.match(p.log(), /cache dir not writable: serving what is cached/)
})

t.test('the original single-dash spelling starts the proxy', async (t) => {
  const port = await freePort()
  const dir = t.testdir()
  const p = await startWith(t, [`-listen=127.0.0.1:${port}`, '-cache-dir', join(dir, 'c'), '-domain-suffix=example.test'], port)
  const help = await request(`http://127.0.0.1:${port}`, '/help')
  t.equal(JSON.parse(help.body.toString())['gcr'], 'https://gcr.io', 'embedded map loaded')
  t.match(p.log(), /cache=.*\/c\b/)
})

t.test('environment variables configure flags; the command line wins', async (t) => {
  const port = await freePort()
  await startWith(t, [], port, { CRPROXY_LISTEN: `127.0.0.1:${port}`, CRPROXY_DEFAULT_REGISTRY: 'http://127.0.0.1:1' })
  const help = JSON.parse((await request(`http://127.0.0.1:${port}`, '/help')).body.toString())
  t.equal(help.default, 'http://127.0.0.1:1')
  const port2 = await freePort()
  await startWith(t, ['--listen', `127.0.0.1:${port2}`], port2, { CRPROXY_LISTEN: `127.0.0.1:${port}` })
  t.pass('flag won over CRPROXY_LISTEN')
})

t.test('bad starts: exit 2 with one clear line', async (t) => {
  const dir = t.testdir({
    'array.json': '["https://x"]',
    'notjson.json': '{nope',
    'ftp.json': '{"default":"ftp://x"}',
    'number.json': '{"default":5}',
    'empty.json': '{}',
  })
  oneCleanLine(t, run(['--bogus']), /unknown flag --bogus/)
  oneCleanLine(t, run(['-bogus=1']), /unknown flag --bogus/)
  oneCleanLine(t, run(['stray']), /unexpected argument "stray"/)
  oneCleanLine(t, run(['--listen', 'x:y']), /--listen/)
  oneCleanLine(t, run(['--registry-map', join(dir, 'missing.json')]), /cannot read: no such file or directory \(ENOENT\)/)
  oneCleanLine(t, run(['--registry-map', join(dir, 'array.json')]), /JSON object/)
  oneCleanLine(t, run(['--registry-map', join(dir, 'notjson.json')]), /not valid JSON/)
  oneCleanLine(t, run(['--registry-map', join(dir, 'ftp.json')]), /not an http\(s\) URL/)
  oneCleanLine(t, run(['--registry-map', join(dir, 'number.json')]), /http\(s\) URL/)
  oneCleanLine(t, run(['--registry-map', join(dir, 'empty.json')]), /no registries/)
  oneCleanLine(t, run(['--registry-map', 'http://127.0.0.1:1/map.json']), /cannot fetch/)
  oneCleanLine(t, run(['--default-registry', 'not a url']), /--default-registry/)
  oneCleanLine(t, run(['--cache-max-size', 'lots']), /--cache-max-size/)
  oneCleanLine(t, run(['--connect-timeout', 'soon']), /--connect-timeout/)
  oneCleanLine(t, run(['--log-format', 'xml']), /--log-format/)
  oneCleanLine(t, run([], { https_proxy: 'socks5://127.0.0.1:1080' }), /https_proxy/i)
})

t.test('a broken map or auth file: the message names the file, the reason, the line and the column', async (t) => {
  const dir = t.testdir({
    'map.json': '{\n  "docker": "https://registry-1.docker.io",\n  "quay" "https://quay.io"\n}\n',
    'trailing.json': '{\n  "docker": "https://registry-1.docker.io",\n}\n',
    'cut.json': '{"docker": "https://regi',
    'auth.json': '{"auths": {"r.example": {"auth": c2VjcmV0OnB3}}}',
  })
  const map = join(dir, 'map.json')
  oneCleanLine(t, run(['--registry-map', map]), new RegExp(`registry map ${map}: not valid JSON: line 3, column 10: expected ':'$`))
  oneCleanLine(t, run(['--registry-map', join(dir, 'trailing.json')]), /trailing\.json: not valid JSON: line 3, column 1: expected a property name in double quotes$/)
  oneCleanLine(t, run(['--registry-map', join(dir, 'cut.json')]), /cut\.json: not valid JSON: line 1, column 25: unterminated string$/)
  oneCleanLine(t, run(['--registry-map', join(dir, 'nope.json')]), /registry map .*nope\.json: cannot read: no such file or directory \(ENOENT\)$/)
  oneCleanLine(t, run(['--registry-map', dir]), /registry map .*: cannot read: is a directory \(EISDIR\)$/)
  const auth = run(['--auth-file', join(dir, 'auth.json')])
  oneCleanLine(t, auth, /auth file .*auth\.json: not valid JSON: line 1, column 34: unexpected character$/)
  t.notMatch(auth.stderr, 'c2VjcmV0', 'the credentials are not quoted')
  oneCleanLine(t, run(['--auth-file', join(dir, 'none.json')]), /auth file .*none\.json: cannot read: no such file or directory \(ENOENT\)$/)
})

t.test('a port in use: exit 2 with one clear line', async (t) => {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => s.close(r)))
  oneCleanLine(t, run(['--listen', `127.0.0.1:${(s.address() as AddressInfo).port}`]), /address already in use/)
})

t.test('a failed start is one line in the chosen log format; with --workers 2 too', async (t) => {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => s.close(r)))
  const busy = `127.0.0.1:${(s.address() as AddressInfo).port}`
  const jsonLine = (r: ReturnType<typeof run>, pattern: RegExp) => {
    t.equal(r.code, 2, 'exit code 2')
    const lines = r.stderr.trim().split('\n')
    t.equal(lines.length, 1, 'one line: ' + r.stderr.trim())
    const j = JSON.parse(lines[0]!)
    t.equal(j.level, 'error')
    t.match(j.msg, pattern)
  }
  jsonLine(run(['--log-format', 'json', '--listen', busy]), /cannot listen on .*address already in use/)
  jsonLine(run(['--listen', busy], { CRPROXY_LOG_FORMAT: 'json' }), /address already in use/)
  jsonLine(run(['--log-format=json', '--bogus']), /unknown flag --bogus/)
  jsonLine(run(['--log-format', 'json', '--workers', '2', '--listen', busy]), /cannot listen on .*address already in use/)
  oneCleanLine(t, run(['--workers', '2', '--listen', busy]), /^crproxy: cannot listen on .*address already in use$/)
})

t.test('--registry-map from an http URL', async (t) => {
  const map = { default: 'http://127.0.0.1:1', quay: 'https://quay.io' }
  const s = http.createServer((_q, r) => r.end(JSON.stringify(map)))
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => s.close(r)))
  const p = await spawnCrproxy(['--registry-map', `http://127.0.0.1:${(s.address() as AddressInfo).port}/map.json`])
  t.teardown(() => p.close())
  t.same(JSON.parse((await request(p.url, '/help')).body.toString()), map)
})

t.test('SIGTERM: exit 0 after shutting down', async (t) => {
  const p = await spawnCrproxy([])
  t.equal(await p.close(), 0)
  t.match(p.log(), /shutting down/)
})

t.test('logs: one line per request; DEBUG=1 adds upstream detail; secrets never logged', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const mapFile = join(dir, 'map.json')
  writeFileSync(mapFile, JSON.stringify({ default: hub.registryUrl }))
  const p = await spawnCrproxy(['--registry-map', mapFile, '--redirect-allow', hub.redirectAllow.join(',')], { DEBUG: '1' })
  t.teardown(() => p.close())
  const ping = await request(p.url, '/v2/')
  const realm = new URL(/realm="([^"]+)"/.exec(String(ping.headers['www-authenticate']))![1]!)
  const secret = 'c2VjcmV0LXBhc3N3b3Jk'
  const tok = await request(p.url, `${realm.pathname}?service=fake-hub&scope=repository:library/busybox:pull&account=alice`, {
    headers: { authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` },
  })
  const token = JSON.parse(tok.body.toString()).token as string
  const img = hub.images['library/busybox:1.36']!
  await request(p.url, `/v2/library/busybox/blobs/${img.blobs[0]}`, { headers: { authorization: `Bearer ${token}` } })
  await request(p.url, '/v2/', { headers: { authorization: `Bearer ${secret}` } })
  await new Promise((r) => setTimeout(r, 100))
  const log = p.log()
  t.match(log, /INFO  request .*method=GET .*path=\/v2\/ .*status=401 .*ms=/)
  t.match(log, /DEBUG upstream redirect .*status=307 .*to=http:\/\/127.0.0.1:\d+\/blobs\/[0-9a-f]+\?…/)
  t.match(log, /DEBUG upstream request .*status=401/)
  t.match(log, /DEBUG challenge rewritten/)
  t.notMatch(log, token, 'token not logged')
  t.notMatch(log, secret, 'Authorization not logged')
  t.notMatch(log, Buffer.from('alice:wonderland').toString('base64'), 'Basic credentials not logged')
  t.notMatch(log, /account=alice/, 'token query strings not logged')
})
