// X-Forwarded-* are the client's word. Without --trust-proxy they change
// nothing: not the realm handed to clients, not whose connection counts
// against the per-client limit. With it, only a well-formed host and
// http/https are taken: a value that could break out of the challenge's
// quotes or carry a path is ignored.
import t from 'tap'
import { bearerParams } from '../fixtures/proxy.js'
import { startHarness } from './fixtures/harness.js'

const realmOf = (h: string | string[] | undefined) => new URL(bearerParams(h)['realm']!)

t.test('ignored without --trust-proxy', async (t) => {
  const h = await startHarness(t, { registry: { auth: true } })
  const o = await h.get('/v2/', {
    headers: { authorization: '', host: 'mirror.test:5000', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', 'x-forwarded-for': '198.51.100.1', forwarded: 'host=evil.example;proto=https' },
  })
  const realm = realmOf(o.headers['www-authenticate'])
  t.equal(realm.origin, 'http://mirror.test:5000', 'the realm follows Host, not X-Forwarded-*')
  await h.assertClean(t)
})

t.test('with --trust-proxy: only well-formed values', async (t) => {
  const h = await startHarness(t, { registry: { auth: true }, proxy: { trustProxy: true } })
  const good = await h.get('/v2/', { headers: { authorization: '', host: 'internal:5000', 'x-forwarded-host': 'mirror.example.com', 'x-forwarded-proto': 'https' } })
  t.equal(realmOf(good.headers['www-authenticate']).origin, 'https://mirror.example.com', 'honoured')
  for (const bad of ['evil.example",service="x', 'evil.example/path', 'a b', 'evil.example\\x', 'user@evil.example', '']) {
    const o = await h.get('/v2/', { headers: { authorization: '', host: 'internal:5000', 'x-forwarded-host': bad, 'x-forwarded-proto': 'javascript' } })
    const challenge = String(o.headers['www-authenticate'])
    t.equal(realmOf(challenge).origin, 'http://internal:5000', `X-Forwarded-Host ${JSON.stringify(bad)} ignored`)
    t.notMatch(challenge, /service="x"/, 'the challenge was not broken out of')
  }
  await h.assertClean(t)
})
