// The real CLI's bad starts: exit 2 with one clear line (in the chosen log
// format) naming what is wrong, never a silent weaker mode, a hang or an
// exit 0 from a stray environment variable. (Split from cli.test.ts so that
// neither file runs near tap's per-file timeout.)
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from '../fixtures/real/proc.js'
import { oneCleanLine, run, startWith } from './fixtures/run-cli.js'

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

