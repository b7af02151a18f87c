// A token server slower than the header timeout: /token/ fails fast with
// 504 GATEWAY_TIMEOUT (a client falls back or retries, it does not hang),
// nothing is left open, and a merely slow one still works.
import t from 'tap'
import { bearerParams } from '../fixtures/proxy.js'
import { isRegistryError, startHarness } from './fixtures/harness.js'

t.test('slower than the header timeout → 504, then fine once it is fast again', async (t) => {
  const h = await startHarness(t, { registry: { auth: true }, proxy: { client: { connectTimeout: 1000, headerTimeout: 500, idleTimeout: 1000 } } })
  const ping = await h.get('/v2/', { headers: { authorization: '' } })
  const realm = new URL(bearerParams(ping.headers['www-authenticate'])['realm']!)
  const path = `${realm.pathname}?service=fault-registry`

  h.reg.fault('token', { kind: 'delay', ms: 3000 }, { times: 1 })
  const started = Date.now()
  const o = await h.get(path)
  t.equal(o.status, 504)
  t.ok(isRegistryError(o) && /GATEWAY_TIMEOUT/.test(o.body.toString()))
  t.ok(Date.now() - started < 2000, `failed fast (${Date.now() - started} ms)`)
  await h.assertClean(t)

  h.reg.fault('token', { kind: 'delay', ms: 200 }, { times: 1 })
  const slow = await h.get(path)
  t.equal(slow.status, 200, 'a slow token server within the timeout still works')
  await h.assertClean(t, 'after recovery')
})
