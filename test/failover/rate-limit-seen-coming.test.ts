// An upstream that announces its rate limit (Docker Hub's headers) is
// watched: the figures are metrics per upstream, a warning is logged when
// less than a tenth remains, and once nothing remains the chain moves to
// its fallback before the primary has sent a single 429.
import t from 'tap'
import { ACCEPT_ALL_MANIFESTS } from '../fixtures/proxy.js'
import { startChain } from './fixtures/chain.js'

t.test('remaining reaches 0: traffic moves to the fallback before any 429', async (t) => {
  const s = await startChain(t)
  let remaining = 12
  await s.front.set({
    kind: 'pass',
    headers: (req): Record<string, string> => {
      if (!/\/manifests\//.test(req.url ?? '')) return {}
      remaining = Math.max(0, remaining - 1)
      return { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': `${remaining};w=21600` }
    },
  })
  const get = () => s.client.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL_MANIFESTS })
  let fromA = 0
  for (let i = 0; i < 20; i++) {
    const before = s.front.relayed.length
    const r = await get()
    t.equal(r.status, 200, `pull ${i + 1} served`)
    if (s.front.relayed.length > before) fromA++
  }
  t.equal(remaining, 0, 'the primary’s count ran out')
  t.equal(s.front.faulted, 0, 'the primary never had to refuse (no 429)')
  t.ok(fromA >= 11 && fromA <= 13, `the primary answered until its count was spent (${fromA} pulls), then no more`)
  t.ok(s.b.count('registry', 'GET', '/v2/library/alpine/manifests/') >= 7, 'the fallback took the rest')
  const warn = s.logs.filter((l) => l.includes('upstream rate limit running out'))
  t.ok(warn.length >= 1, 'a warning below 10%')
  t.match(JSON.parse(warn[0]!), { level: 'warn', upstream: 'hub', member: s.front.url, limit: 100 })
  t.ok(warn.length <= 3, `not a warning per request (${warn.length})`)
  const m = await s.metrics()
  t.match(m, new RegExp(`crproxy_upstream_ratelimit_limit\\{member="${s.front.url}",upstream="hub"\\} 100`))
  t.match(m, new RegExp(`crproxy_upstream_ratelimit_remaining\\{member="${s.front.url}",upstream="hub"\\} 0`))
  t.match(m, new RegExp(`crproxy_upstream_ratelimit_window_seconds\\{member="${s.front.url}",upstream="hub"\\} 21600`))
  const help = await s.help()
  t.equal(help[0]!.healthy, false, '/help: the primary is out of rotation')
  t.match(help[0]!.last_error, /rate limit spent/)
})
