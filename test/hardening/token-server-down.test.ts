// The token server refuses connections or answers 503: /token/ answers a
// registry error (502, or the 503 passed through with Retry-After), nothing
// is left open, and tokens flow again once it is back.
import t from 'tap'
import { bearerParams } from '../fixtures/proxy.js'
import { isRegistryError, startHarness, type Harness } from './fixtures/harness.js'

/** Pings /v2/ without credentials and returns the rewritten realm's path and query. */
async function realmPath(h: Harness): Promise<string> {
  const ping = await h.get('/v2/', { headers: { authorization: '' } })
  const realm = new URL(bearerParams(ping.headers['www-authenticate'])['realm']!)
  return `${realm.pathname}?service=fault-registry&scope=repository:${h.repo}:pull`
}

t.test('token server refuses connections → 502', async (t) => {
  const h = await startHarness(t, { registry: { auth: true } })
  const path = await realmPath(h)
  await h.reg.refuse('token')
  const o = await h.get(path)
  t.equal(o.status, 502)
  t.ok(isRegistryError(o), 'a registry error body')
  await h.assertClean(t)
  await h.reg.restore()
  const ok = await h.get(path)
  t.equal(ok.status, 200, 'tokens again once it listens')
  t.match(JSON.parse(ok.body.toString()), { token: String })
  await h.assertClean(t, 'after recovery')
})

t.test('token server answers 503 → passed through with Retry-After', async (t) => {
  const h = await startHarness(t, { registry: { auth: true } })
  const path = await realmPath(h)
  h.reg.fault('token', { kind: 'status', status: 503, retryAfter: '5' })
  const o = await h.get(path)
  t.equal(o.status, 503)
  t.equal(o.headers['retry-after'], '5')
  t.equal(o.headers['cache-control'], 'no-store')
  await h.assertClean(t)
  await h.reg.restore()
  t.equal((await h.get(path)).status, 200, 'tokens again')
})

t.test('token server resets mid-body → the token response is cut, never complete', async (t) => {
  const h = await startHarness(t, { registry: { auth: true } })
  const path = await realmPath(h)
  h.reg.fault('token', { kind: 'reset-body', after: 10 })
  const o = await h.get(path)
  t.ok(!o.complete || o.status === 502, `cut or 502 (${o.status}, complete=${o.complete})`)
  await h.assertClean(t)
  await h.reg.restore()
  t.equal((await h.get(path)).status, 200, 'tokens again')
})
