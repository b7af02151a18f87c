// --tls-cert/--tls-key: HTTPS with the same handler, realms rewritten to
// https, and SIGHUP swapping the certificate for new connections while an
// open keep-alive connection goes on working.
import { X509Certificate } from 'node:crypto'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { selfSigned } from '../fixtures/certs.js'
import { hasCommand } from './fixtures/helpers.js'

interface TlsReply {
  status: number
  body: string
  headers: Record<string, string | string[] | undefined>
  fingerprint: string
  reused: boolean
  socket: TLSSocket
}

function get(url: string, path: string, opts: https.RequestOptions): Promise<TlsReply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url + path, { ...opts, servername: 'crproxy.test' }, (res) => {
      const socket = res.socket as TLSSocket
      const fingerprint = socket.getPeerCertificate().fingerprint256
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, fingerprint, reused: req.reusedSocket, socket }))
    })
    req.on('error', reject)
    req.end()
  })
}

const fingerprintOf = (pemPath: string) => new X509Certificate(readFileSync(pemPath)).fingerprint256

t.test('https, realm rewrite to https, and SIGHUP certificate reload', { skip: !hasCommand('openssl') && 'openssl not installed' }, async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const a = selfSigned(dir, 'a')
  const b = selfSigned(dir, 'b')
  const cert = join(dir, 'tls.crt')
  const key = join(dir, 'tls.key')
  copyFileSync(a.certFile, cert)
  copyFileSync(a.keyFile, key)
  const mapFile = join(dir, 'map.json')
  writeFileSync(mapFile, JSON.stringify({ default: hub.registryUrl }))
  const p = await startCliProxy(['--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key, '--registry-map', mapFile, '--redirect-allow', hub.redirectAllow.join(',')], { listen: false })
  t.teardown(() => p.close())
  t.match(p.url, /^https:/)
  await p.waitFor(/serving https certificate=.*DNS:\*\.crproxy\.test/)
  const ca = [readFileSync(a.certFile), readFileSync(b.certFile)]
  const fa = fingerprintOf(a.certFile)
  const fb = fingerprintOf(b.certFile)

  const health = await get(p.url, '/healthz', { ca, agent: false })
  t.equal(health.status, 200)
  t.equal(health.fingerprint, fa, 'certificate A')

  const ping = await get(p.url, '/v2/', { ca, agent: false })
  t.equal(ping.status, 401)
  t.match(String(ping.headers['www-authenticate']), new RegExp(`realm="https://127\\.0\\.0\\.1:${p.port}/token/default/http/`), 'realm rewritten with https')

  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca })
  t.teardown(() => agent.destroy())
  const first = await get(p.url, '/healthz', { agent })
  t.equal(first.fingerprint, fa)

  copyFileSync(b.certFile, cert)
  copyFileSync(b.keyFile, key)
  p.proc.kill('SIGHUP')
  await p.waitFor(/tls certificate reloaded/)

  const again = await get(p.url, '/healthz', { agent })
  t.equal(again.status, 200, 'the open keep-alive connection still works')
  t.ok(again.reused, 'on the same connection')
  t.equal(again.socket, first.socket)
  t.equal(again.fingerprint, fa, 'which keeps certificate A')

  const fresh = await get(p.url, '/healthz', { ca, agent: false })
  t.equal(fresh.status, 200)
  t.equal(fresh.fingerprint, fb, 'a new connection sees certificate B')

  writeFileSync(cert, 'not a certificate')
  p.proc.kill('SIGHUP')
  await p.waitFor(/WARN  tls reload failed: keeping the current certificate/)
  t.match(p.log(), new RegExp(`tls reload failed: .*error="--tls-cert ${cert}: not a PEM certificate \\(`), 'the failed reload names the file and the reason')
  const still = await get(p.url, '/healthz', { ca, agent: false })
  t.equal(still.fingerprint, fb, 'a broken file keeps the current certificate')
  t.equal(p.proc.exitCode, null, 'and the proxy running')
})

t.test('bad TLS flags: exit 2 with one line', { skip: !hasCommand('openssl') && 'openssl not installed' }, async (t) => {
  const dir = t.testdir()
  const a = selfSigned(dir, 'a')
  const b = selfSigned(dir, 'b')
  const { main } = await import('../../lib/cli.js')
  const run = async (argv: string[]) => {
    let err = ''
    const code = await main(argv, { env: {}, stdout: () => {}, stderr: (s) => (err += s) })
    return { code, err }
  }
  let r = await run(['--tls-cert', a.certFile])
  t.equal(r.code, 2)
  t.match(r.err, /--tls-cert and --tls-key go together/)
  r = await run(['--tls-cert', a.certFile, '--tls-key', b.keyFile])
  t.equal(r.code, 2)
  t.match(r.err, new RegExp(`--tls-cert ${a.certFile} with --tls-key ${b.keyFile}: key values mismatch`, 'i'))
  r = await run(['--tls-cert', join(dir, 'missing.crt'), '--tls-key', a.keyFile])
  t.equal(r.code, 2)
  t.match(r.err, /--tls-cert .*missing\.crt: cannot read: no such file or directory \(ENOENT\)/)
  writeFileSync(join(dir, 'junk.pem'), 'not a certificate\n')
  r = await run(['--tls-cert', join(dir, 'junk.pem'), '--tls-key', a.keyFile])
  t.equal(r.code, 2)
  t.match(r.err, /^crproxy: --tls-cert .*junk\.pem: not a PEM certificate \(.+\)\n$/)
  r = await run(['--tls-cert', a.certFile, '--tls-key', join(dir, 'junk.pem')])
  t.equal(r.code, 2)
  t.match(r.err, /^crproxy: --tls-key .*junk\.pem: not an unencrypted PEM private key \(.+\)\n$/)
})
