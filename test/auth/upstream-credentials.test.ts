// --auth-file: the proxy authenticates to the upstream itself for clients
// that send no Authorization, caches the token it gets (refreshing it before
// it expires), never shows its token or credentials to a client, and leaves
// clients with their own Authorization alone.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parseAuthFile, registryKey, type CredentialMap } from '../../lib/auth/auth-file.js'
import { scopeFor } from '../../lib/auth/upstream-credentials.js'
import { ConfigError } from '../../lib/config.js'
import { startFakeHub, type FakeHub } from '../fixtures/fake-hub.js'
import { ACCEPT_ALL_MANIFESTS, bearerParams, PullClient, request, startTestProxy, type Reply } from '../fixtures/proxy.js'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { sha256 } from '../fixtures/sha256.js'

const alice = { username: 'alice', password: 'wonderland' }
const aliceBasic = 'Basic ' + Buffer.from('alice:wonderland').toString('base64')

function creds(hub: FakeHub, c = alice): CredentialMap {
  return new Map([[hub.registryHost, c]])
}

/** Token requests the proxy made with the operator's credentials. */
function proxyTokenFetches(hub: FakeHub): number {
  return hub.requests.filter((r) => r.server === 'token' && r.headers.authorization === aliceBasic).length
}

/** Every Bearer token the registry saw. */
function tokensSeen(hub: FakeHub): Set<string> {
  const out = new Set<string>()
  for (const r of hub.requests) {
    const a = r.headers.authorization
    if (r.server === 'registry' && typeof a === 'string' && a.startsWith('Bearer ')) out.add(a.slice(7))
  }
  return out
}

function assertNothingLeaks(t: Test, replies: Reply[], secrets: Iterable<string>) {
  const all = replies.map((r) => JSON.stringify(r.headers) + r.body.toString('latin1')).join('\n')
  for (const s of secrets) t.notOk(all.includes(s), `no response carries ${s.slice(0, 6)}…`)
  t.notOk(all.includes(aliceBasic.slice(6)), 'no response carries the Basic credentials')
  t.notOk(all.includes('wonderland'), 'no response carries the password')
}

t.test('auth file parsing', async (t) => {
  const b64 = (s: string) => Buffer.from(s).toString('base64')
  const p = parseAuthFile(
    JSON.stringify({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:p:with:colons') },
        'ghcr.io': { username: 'gh', password: 'ghpass' },
        'quay.io': { identitytoken: 'x' },
      },
      credsStore: 'desktop',
    }),
    'x.json',
  )
  t.same(p.credentials.get('docker.io'), { username: 'hubuser', password: 'p:with:colons' }, 'Docker Hub key normalised')
  t.same(p.credentials.get('ghcr.io'), { username: 'gh', password: 'ghpass' })
  t.notOk(p.credentials.has('quay.io'))
  t.match(p.warnings.join('\n'), /quay\.io.*identitytoken is not supported/)
  t.match(p.warnings.join('\n'), /credsStore is not supported/)
  t.notMatch(p.warnings.join('\n'), /ghpass|hubuser|p:with/, 'warnings carry no secrets')
  t.throws(() => parseAuthFile('{', 'x'), ConfigError)
  t.throws(() => parseAuthFile('{"auths":[]}', 'x'), /config\.json format/)
  t.throws(() => parseAuthFile(JSON.stringify({ auths: { a: { auth: b64('nocolon') } } }), 'x'), /not base64 of user:password/)
  t.equal(registryKey('registry-1.docker.io'), 'docker.io')
  t.equal(registryKey('HTTPS://GHCR.IO/'), 'ghcr.io')
  t.equal(registryKey('127.0.0.1:5000'), '127.0.0.1:5000')
  t.equal(scopeFor('/v2/private/secret/manifests/1'), 'repository:private/secret:pull')
  t.equal(scopeFor('/v2/'), '')
})

t.test('anonymous client pulls a private image with the operator credentials', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, upstreamCredentials: creds(hub) })
  const replies: Reply[] = []
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(proxy.url, path, { headers })
    replies.push(r)
    return r
  }
  const ping = await get('/v2/')
  t.equal(ping.status, 200, 'the proxy answers the ping as an open registry')
  const img = hub.images['private/secret:1']!
  const m = await get('/v2/private/secret/manifests/1', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(m.status, 200)
  t.equal(sha256(m.body), img.digest)
  for (const d of img.blobs) {
    const b = await get(`/v2/private/secret/blobs/${d}`)
    t.equal(b.status, 200)
    t.equal(sha256(b.body), d)
  }
  t.equal(proxyTokenFetches(hub), 2, 'one token for the ping, one for the repository: fetched once, reused')
  const repoFetch = hub.requests.filter((r) => r.server === 'token' && r.headers.authorization === aliceBasic).map((r) => new URLSearchParams(r.query).get('scope'))
  t.same(repoFetch, [null, 'repository:private/secret:pull'])
  t.equal(hub.cdnAuthLeaks, 0, 'the token never reached the CDN')
  // Once the challenge is known, requests carry the token on the first try.
  const before = hub.count('registry')
  await get('/v2/private/secret/manifests/1', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(hub.count('registry') - before, 1, 'no anonymous round trip once the token is cached')
  assertNothingLeaks(t, replies, tokensSeen(hub))
})

t.test('a client with its own Authorization is not affected', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, upstreamCredentials: creds(hub) })
  // An anonymous token obtained through the proxy's token relay.
  const c = new PullClient(proxy.url)
  const challenge = await request(proxy.url, '/v2/library/alpine/manifests/3.19', { headers: { authorization: 'Bearer nope' } })
  t.equal(challenge.status, 401, "a client's bad token is the client's problem")
  t.match(bearerParams(challenge.headers['www-authenticate'])['realm'], `${proxy.url}/token/`, 'challenge rewritten to the proxy')
  await c.login(challenge.headers['www-authenticate']!)
  t.ok(c.token)
  const mine = await request(proxy.url, '/v2/private/secret/manifests/1', {
    headers: { authorization: `Bearer ${c.token}`, accept: ACCEPT_ALL_MANIFESTS },
  })
  t.equal(mine.status, 401, 'anonymous token: private image refused, not upgraded')
  const last = hub.requests.filter((r) => r.server === 'registry').pop()!
  t.equal(last.headers.authorization, `Bearer ${c.token}`, "the client's own token went upstream unchanged")
  t.equal(proxyTokenFetches(hub), 0, 'the operator credentials were never used')
  const relayed = hub.requests.filter((r) => r.server === 'token')
  t.ok(relayed.every((r) => r.headers.authorization === undefined), 'the token relay adds no credentials')
})

t.test('tokens are refreshed before they expire', async (t) => {
  const hub = await startFakeHub({ tokenExpiresIn: 2 })
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, upstreamCredentials: creds(hub) })
  const path = '/v2/private/secret/manifests/1'
  t.equal((await request(proxy.url, path, { headers: { accept: ACCEPT_ALL_MANIFESTS } })).status, 200)
  t.equal(proxyTokenFetches(hub), 1)
  t.equal((await request(proxy.url, path, { headers: { accept: ACCEPT_ALL_MANIFESTS } })).status, 200)
  t.equal(proxyTokenFetches(hub), 1, 'reused while fresh')
  await new Promise((r) => setTimeout(r, 1100)) // refresh point: half of a 2 s lifetime
  const before = hub.count('registry')
  t.equal((await request(proxy.url, path, { headers: { accept: ACCEPT_ALL_MANIFESTS } })).status, 200)
  t.equal(proxyTokenFetches(hub), 2, 'a new token before the old one expired')
  t.equal(hub.count('registry') - before, 1, 'sent once, with the new token: the upstream never refused it')
  const metrics = (await request(proxy.url, '/metrics')).body.toString()
  t.match(metrics, new RegExp(`crproxy_upstream_token_fetches_total\\{registry="${hub.registryHost}",result="ok"\\} 2`))
})

t.test('wrong operator credentials: the client gets the upstream 401 with the challenge rewritten', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, {
    registryMap: { default: hub.registryUrl },
    redirectAllow: hub.redirectAllow,
    upstreamCredentials: creds(hub, { username: 'alice', password: 'wrong' }),
  })
  const r = await request(proxy.url, '/v2/private/secret/manifests/1', { headers: { accept: ACCEPT_ALL_MANIFESTS } })
  t.equal(r.status, 401)
  t.match(JSON.parse(r.body.toString()), { errors: [{ code: 'UNAUTHORIZED' }] }, 'the upstream error body')
  const realm = bearerParams(r.headers['www-authenticate'])['realm']!
  t.match(realm, new RegExp(`^${proxy.url}/token/default/http/`), 'realm rewritten to the proxy')
  t.notMatch(String(r.headers['www-authenticate']), hub.tokenUrl)
  t.notMatch(JSON.stringify(r.headers) + r.body.toString(), /wrong/)
})

t.test('an upstream with Basic auth: credentials sent directly', async (t) => {
  const seen: Array<string | undefined> = []
  const basicUp = http.createServer((req, res) => {
    seen.push(req.headers.authorization)
    if (req.headers.authorization !== aliceBasic) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="private"', 'content-type': 'application/json' })
      return res.end('{"errors":[{"code":"UNAUTHORIZED","message":"login","detail":null}]}')
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"name":"team/app","tags":["1"]}')
  })
  await new Promise<void>((r) => basicUp.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => basicUp.close(r)))
  const host = `127.0.0.1:${(basicUp.address() as AddressInfo).port}`
  const proxy = await startTestProxy(t, { registryMap: { default: `http://${host}` }, upstreamCredentials: new Map([[host, alice]]) })
  const a = await request(proxy.url, '/v2/team/app/tags/list')
  t.equal(a.status, 200)
  const b = await request(proxy.url, '/v2/team/app/tags/list')
  t.equal(b.status, 200)
  t.same(seen, [undefined, aliceBasic, aliceBasic], 'one anonymous try, then Basic straight away')
  t.notMatch(JSON.stringify(a.headers) + JSON.stringify(b.headers), /Basic/)
})

t.test('--auth-file through the CLI; a bad file stops the start', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const mapFile = join(dir, 'map.json')
  const authFile = join(dir, 'config.json')
  writeFileSync(mapFile, JSON.stringify({ default: hub.registryUrl }))
  writeFileSync(authFile, JSON.stringify({ auths: { [hub.registryHost]: { auth: aliceBasic.slice(6) } } }), { mode: 0o600 })
  const p = await startCliProxy(['--registry-map', mapFile, '--auth-file', authFile, '--redirect-allow', hub.redirectAllow.join(',')])
  t.teardown(() => p.close())
  const r = await request(p.url, '/v2/private/secret/manifests/1', { headers: { accept: ACCEPT_ALL_MANIFESTS } })
  t.equal(r.status, 200)
  t.match(p.log(), new RegExp(`upstream credentials for clients without their own registries=${hub.registryHost.replace('.', '\\.')}`))
  t.notMatch(p.log(), /wonderland|YWxpY2U6d29uZGVybGFuZA/, 'credentials never logged')
  // SIGHUP re-reads the file: the old token is dropped with the old credentials.
  writeFileSync(authFile, JSON.stringify({ auths: { [hub.registryHost]: { username: 'alice', password: 'revoked' } } }), { mode: 0o600 })
  p.proc.kill('SIGHUP')
  for (let i = 0; i < 200 && !/auth file reloaded/.test(p.log()); i++) await new Promise((r) => setTimeout(r, 25))
  t.match(p.log(), /INFO  auth file reloaded registries=1/)
  const after = await request(p.url, '/v2/private/secret/manifests/1', { headers: { accept: ACCEPT_ALL_MANIFESTS } })
  t.equal(after.status, 401, 'the new (wrong) credentials apply at once')
  t.notMatch(p.log(), /revoked/, 'not logged either')
  writeFileSync(join(dir, 'bad.json'), '{"auths": 1}')
  await t.rejects(startCliProxy(['--auth-file', join(dir, 'bad.json')]), /exited with 2/)
})
