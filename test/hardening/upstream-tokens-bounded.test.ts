// With --auth-file the proxy fetches one token per repository name, and the
// names are the clients' choice: the tokens it keeps are an LRU with a bound
// (crproxy_upstream_tokens never exceeds it), the least recently used name
// pays one new token fetch, and a token is dropped when it expires.
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { request, startTestProxy } from '../fixtures/proxy.js'
import { metric } from '../manifests/fixtures/setup.js'

/** The documented bound (lib/auth/upstream-credentials.ts MAX_TOKENS). */
const MAX_TOKENS = 1000
const alice = { username: 'alice', password: 'wonderland' }
const aliceBasic = 'Basic ' + Buffer.from('alice:wonderland').toString('base64')

t.test('many repository names: the tokens table stays within its bound', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, {
    registryMap: { default: hub.registryUrl },
    redirectAllow: hub.redirectAllow,
    upstreamCredentials: new Map([[hub.registryHost, alice]]),
  })
  const fetchesFor = (name: string) =>
    hub.requests.filter(
      (r) => r.server === 'token' && r.headers.authorization === aliceBasic && new URLSearchParams(r.query).get('scope') === `repository:${name}:pull`,
    ).length
  const statuses = new Set<number>()
  // No such repository: a 404 from the upstream, after the proxy fetched a token for it.
  const pull = async (name: string) => void statuses.add((await request(proxy.url, `/v2/${name}/tags/list`)).status)
  const names = Array.from({ length: MAX_TOKENS + 50 }, (_, i) => `n${i}/app`)
  await pull(names[0]!)
  t.equal(await metric(proxy, 'crproxy_upstream_tokens'), 1, 'one token held')
  for (let i = 1; i < names.length; i += 16) await Promise.all(names.slice(i, i + 16).map(pull))
  t.equal(fetchesFor(names[0]!), 1)
  const held = await metric(proxy, 'crproxy_upstream_tokens')
  t.ok(held > 0 && held <= MAX_TOKENS, `tokens held: ${held}, at most ${MAX_TOKENS}`)

  const last = names[names.length - 1]!
  await pull(last)
  t.equal(fetchesFor(last), 1, 'a recently used name keeps its token')
  await pull(names[0]!)
  t.equal(fetchesFor(names[0]!), 2, 'the least recently used name was pushed out: one new token fetch')
  t.ok((await metric(proxy, 'crproxy_upstream_tokens')) <= MAX_TOKENS)
  t.same([...statuses], [404], "every request got the upstream's answer")
})

t.test("a token is dropped when the token server's expires_in has passed", async (t) => {
  const hub = await startFakeHub({ tokenExpiresIn: 1 })
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, {
    registryMap: { default: hub.registryUrl },
    redirectAllow: hub.redirectAllow,
    upstreamCredentials: new Map([[hub.registryHost, alice]]),
  })
  for (const name of ['a/one', 'a/two', 'a/three']) t.equal((await request(proxy.url, `/v2/${name}/tags/list`)).status, 404)
  t.equal(await metric(proxy, 'crproxy_upstream_tokens'), 3)
  await new Promise((r) => setTimeout(r, 1200))
  t.equal(await metric(proxy, 'crproxy_upstream_tokens'), 0, 'expired tokens are not kept')
})
