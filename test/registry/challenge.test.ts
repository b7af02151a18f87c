import t from 'tap'
import { parseChallenges, serializeChallenge } from '../../lib/registry/challenge.js'
import { normaliseScope, parseTokenPath, RealmRegistry, rewriteChallenges, tokenPathFor } from '../../lib/registry/realms.js'

t.test('parses several challenges with parameters in any order', async (t) => {
  const c = parseChallenges('Bearer service="registry.docker.io",realm="https://auth.docker.io/token",scope="repository:library/alpine:pull,push", Basic realm="x"')
  t.equal(c?.length, 2)
  t.same(c?.[0]?.params, [
    ['service', 'registry.docker.io'],
    ['realm', 'https://auth.docker.io/token'],
    ['scope', 'repository:library/alpine:pull,push'],
  ])
  t.same(c?.[1], { scheme: 'Basic', params: [['realm', 'x']] })
})

t.test('escaped quotes survive a round trip', async (t) => {
  const c = parseChallenges('Bearer realm="a\\"b",error="insufficient_scope"')!
  t.equal(c[0]!.params[0]![1], 'a"b')
  t.equal(serializeChallenge(c[0]!), 'Bearer realm="a\\"b",error="insufficient_scope"')
})

t.test('unterminated quotes and absurd parameter counts are refused', async (t) => {
  t.equal(parseChallenges('Bearer realm="abc'), null)
  t.equal(parseChallenges('Bearer ' + Array.from({ length: 100 }, (_, i) => `p${i}=v`).join(',')), null)
})

t.test('realm rewritten to /token/, everything else kept, realm recorded', async (t) => {
  const realms = new RealmRegistry()
  const [out] = rewriteChallenges(
    ['Bearer scope="repository:a:pull",realm="https://auth.example.com/token?x=1",service="svc"'],
    'docker',
    'http://proxy.test:5000',
    realms,
  )
  t.equal(out, 'Bearer scope="repository:a:pull",realm="http://proxy.test:5000/token/docker/https/auth.example.com/token",service="svc"')
  const target = parseTokenPath('/token/docker/https/auth.example.com/token')!
  t.equal(realms.lookup(target)?.href, 'https://auth.example.com/token?x=1', "the realm's own query is kept")
  t.equal(realms.lookup({ upstreamKey: 'gcr', realmKey: target.realmKey }), undefined, 'announced by docker only')
})

t.test('basic challenges pass unchanged', async (t) => {
  const realms = new RealmRegistry()
  t.same(rewriteChallenges(['Basic realm="Registry Realm"'], 'k', 'http://p', realms), ['Basic realm="Registry Realm"'])
  t.equal(realms.size, 0)
})

t.test('token paths: only what tokenPathFor writes parses', async (t) => {
  const realm = new URL('http://127.0.0.1:8080/auth/token')
  const p = tokenPathFor('hub', realm)
  t.equal(p, '/token/hub/http/127.0.0.1:8080/auth/token')
  t.same(parseTokenPath(p), { upstreamKey: 'hub', realmKey: 'http://127.0.0.1:8080/auth/token' })
  for (const bad of [
    '/token/hub/file/etc/passwd',
    '/token/hub/http/127.0.0.1:8080/../admin',
    '/token/hub/http/127.0.0.1:8080/%2e%2e/admin',
    '/token/hub/http/user@host/x',
    '/token/hub/http/host\\x/y',
    '/token/../http/h/x',
    '/token/hub',
  ]) {
    t.equal(parseTokenPath(bad), null, bad)
  }
})

t.test('Docker Hub scopes gain library/', async (t) => {
  t.equal(normaliseScope('repository:alpine:pull'), 'repository:library/alpine:pull')
  t.equal(normaliseScope('repository:bitnami/redis:pull'), 'repository:bitnami/redis:pull')
  t.equal(normaliseScope('repository:alpine:pull repository:busybox:pull'), 'repository:library/alpine:pull repository:library/busybox:pull')
  t.equal(normaliseScope('registry:catalog:*'), 'registry:catalog:*')
})
