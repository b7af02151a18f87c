// An upstream that announces its rate limit (Docker Hub's headers) is
// watched: the figures are metrics per upstream, a warning is logged when
// less than a tenth remains, and once nothing remains the chain moves to
// its fallback before the primary has sent a single 429.
import t from 'tap'
import { ACCEPT_ALL_MANIFESTS } from '../fixtures/proxy.js'
import { startChain } from './fixtures/chain.js'

t.test('remaining reaches 0: traffic moves to the fallback before any 429', async (t) => {
  // A spent limit keeps the primary out for its window, at most the backoff cap: long here.
  const s = await startChain(t, { backoffMax: 60_000 })
  let remaining = 12
  // Requests a real registry would have refused with 429: asked after it said 0.
  let overLimit = 0
  await s.front.set({
    kind: 'pass',
    headers: (req): Record<string, string> => {
      if (!/\/manifests\//.test(req.url ?? '')) return {}
      if (remaining === 0) overLimit++
      remaining = Math.max(0, remaining - 1)
      return { 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': `${remaining};w=21600` }
    },
  })
  const get = () => s.client.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL_MANIFESTS })
  const servedBy: string[] = []
  for (let i = 0; i < 20; i++) {
    const before = s.front.relayed.length
    const r = await get()
    t.equal(r.status, 200, `pull ${i + 1} served`)
    servedBy.push(s.front.relayed.length > before ? 'primary' : 'fallback')
  }
  t.equal(remaining, 0, 'the primary’s count ran out')
  // 12 answers of the primary: the first pull took two (a 401, then with a token).
  t.same(servedBy, [...Array<string>(11).fill('primary'), ...Array<string>(9).fill('fallback')], 'the primary until it said 0, the fallback from the next pull on')
  t.equal(overLimit, 0, 'the primary was never asked once it had said 0 (no 429 was ever due)')
  t.ok(s.b.count('registry', 'GET', '/v2/library/alpine/manifests/') >= 9, 'the fallback took the rest')
  const warn = s.logs.filter((l) => l.includes('upstream rate limit running out'))
  t.ok(warn.length >= 1, 'a warning below 10%')
  t.match(JSON.parse(warn[0]!), { level: 'warn', upstream: 'hub', member: s.front.url, limit: 100 })
  t.ok(warn.length <= 2, `not a warning per request (${warn.length}: when low, and when spent)`)
  const m = await s.metrics()
  t.match(m, new RegExp(`crproxy_upstream_ratelimit_limit\\{member="${s.front.url}",upstream="hub"\\} 100`))
  t.match(m, new RegExp(`crproxy_upstream_ratelimit_remaining\\{member="${s.front.url}",upstream="hub"\\} 0`))
  t.match(m, new RegExp(`crproxy_upstream_ratelimit_window_seconds\\{member="${s.front.url}",upstream="hub"\\} 21600`))
  const help = await s.help()
  t.equal(help[0]!.healthy, false, '/help: the primary is out of rotation')
  t.match(help[0]!.last_error, /rate limit spent/)
})
