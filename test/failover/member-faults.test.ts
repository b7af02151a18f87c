// A two-member chain whose primary fails the ways upstreams fail: nothing
// listening, 503, 429 with Retry-After, no headers in time. Every pull is
// served whole by the fallback with the right digests; the primary is shown
// out of rotation in /help and /metrics, and the background probe brings
// the traffic back to it once it recovers.
import t from 'tap'
import { pullAlpine, startChain } from './fixtures/chain.js'
import type { FrontMode } from './fixtures/fault-front.js'

const faults: Array<{ name: string; mode: FrontMode; reason: RegExp }> = [
  { name: 'primary down (connection refused)', mode: { kind: 'down' }, reason: /^(probe: )?connect: / },
  { name: 'primary answers 503', mode: { kind: 'status', status: 503 }, reason: /HTTP 503/ },
  { name: 'primary answers 429 with Retry-After', mode: { kind: 'status', status: 429, retryAfter: '1' }, reason: /HTTP 429/ },
  { name: 'primary slow to answer headers', mode: { kind: 'slow' }, reason: /^(probe: )?timeout: / },
]

for (const f of faults) {
  t.test(f.name, async (t) => {
    const s = await startChain(t)
    t.same(await pullAlpine(s.client, s.a), [], 'both up: a whole pull')
    const viaA = s.front.relayed.length
    t.ok(viaA > 0, 'served by the primary')
    t.equal(s.b.count('registry'), 0, 'the fallback saw nothing')

    await s.front.set(f.mode)
    const started = Date.now()
    t.same(await pullAlpine(s.client, s.a), [], 'primary failing: a whole pull, every digest right')
    t.ok(s.b.count('registry', 'GET', '/v2/library/alpine/') > 0, 'served by the fallback')
    const help = await s.help()
    t.equal(help[0]!.healthy, false, '/help shows the primary out of rotation')
    // The request's failure, or the probe's since (under load a pull outlasts the backoff).
    t.match(help[0]!.last_error ?? '', f.reason, 'with why')
    t.equal(help[1]!.healthy, true, 'and the fallback in it')
    const m = await s.metrics()
    t.match(m, new RegExp(`crproxy_upstream_healthy\\{member="${s.front.url}"\\} 0`), 'metric: primary unhealthy')
    t.match(m, /crproxy_upstream_failovers_total\{[^}]*upstream="hub"[^}]*\} [1-9]/, 'metric: failovers counted')
    t.ok(s.logs.some((l) => l.includes('trying the next of its chain')), 'the failover is logged')
    if (f.mode.kind === 'status' && f.mode.status === 429) {
      t.match(m, /crproxy_upstream_retry_after_seconds\{member="[^"]+",upstream="hub"\} 1/, 'metric: the Retry-After seen')
    }

    // Recovery: the probe finds it, and the next pull goes to the primary.
    await s.front.set({ kind: 'pass' })
    await s.untilHealthy(0)
    if (f.mode.kind === 'status' && f.mode.status === 429) {
      t.ok(Date.now() - started >= 1000, 'not probed back before its Retry-After')
    }
    t.ok(s.logs.some((l) => l.includes('upstream back in rotation') && l.includes('"by":"probe"')), 'the probe brought it back (logged)')
    const bBefore = s.b.count('registry')
    const aBefore = s.front.relayed.length
    t.same(await pullAlpine(s.client, s.a), [], 'after recovery: a whole pull')
    t.ok(s.front.relayed.length > aBefore, 'served by the primary again')
    t.equal(s.b.count('registry'), bBefore, 'the fallback saw nothing more')
  })
}

t.test('the fallback down: the primary serves, the fallback is probed and kept out until it answers', async (t) => {
  const s = await startChain(t)
  t.same(await pullAlpine(s.client, s.a), [], 'a whole pull from the primary')
  // The fallback is only tried when the primary fails; take both turns.
  await s.front.set({ kind: 'status', status: 503 })
  await s.b.close()
  const r = await s.client.get('/v2/library/alpine/manifests/3.19')
  // The primary (503) was asked first, then the fallback: refused.
  t.equal(r.status, 502, 'both failing: the last member’s failure is the answer')
  t.match(JSON.parse(r.body.toString()), { errors: [{ code: 'BAD_GATEWAY' }] }, 'as a registry error')
  const help = await s.help()
  t.same(help.map((m) => m.healthy), [false, false], 'both out of rotation')
  await s.front.set({ kind: 'pass' })
  await s.untilHealthy(0)
  t.same(await pullAlpine(s.client, s.a), [], 'the primary back: whole pulls again, the fallback still down')
})
