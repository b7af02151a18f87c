// The status page's renderer (the same function runs in the browser):
// everything client-chosen is escaped, and the top-repositories table stays
// bounded however many names clients make up.
import t from 'tap'
import { renderStatus } from '../../lib/status/render.js'
import { statusPage } from '../../lib/status/page.js'
import { mergeRepositories, TopRepositories } from '../../lib/status/top-repositories.js'
import type { StatusData } from '../../lib/status/status-data.js'

const base: StatusData = {
  version: '1.2.3',
  now: Date.parse('2026-01-01T12:00:00Z'),
  startedAt: Date.parse('2026-01-01T11:00:00Z'),
  uptimeSeconds: 3600,
  processes: 2,
  upstreams: [],
  cache: null,
  history: [],
  fills: [],
  repositories: [],
}

t.test('repository names, hosts and fill upstreams are escaped', async (t) => {
  const evil = `x/<script>alert("1")</script>&'`
  const html = statusPage({
    ...base,
    repositories: [{ name: evil, bytes: 10 }],
    upstreams: [{ host: '<img src=x onerror=alert(1)>', requests: 1, errors: 0, lastError: { at: base.now, what: '<b>' } }],
    fills: [{ digest: 'sha256:<i>', upstream: '"><script>x()</script>', written: 1, idleMs: 0 }],
  })
  t.notOk(html.includes('<script>alert'), 'no injected script element')
  t.notOk(html.includes('<img'), 'no injected element')
  t.notOk(html.includes('"><script>x'), 'no attribute break-out')
  t.match(html, 'x/&lt;script&gt;alert(&quot;1&quot;)&lt;/script&gt;&amp;&#39;')
  t.equal(html.match(/<script>/g)?.length, 1, 'only the page’s own script')
})

t.test('figures carry their raw values; the chart has one point per minute', async (t) => {
  const history = Array.from({ length: 60 }, (_, i) => ({ t: base.now - (59 - i) * 60_000, hits: i, misses: 0, bytesFromCache: i * 1000, bytesFromUpstream: 500 }))
  const html = renderStatus({
    ...base,
    cache: { bytes: 2048, maxBytes: 4096, blobs: 3, hits: 9, misses: 1, hitRatio: 0.9, bytesFromCache: 5 * 1024 ** 2, bytesFromUpstream: 1024, fillsInFlight: 0 },
    history,
  })
  t.match(html, '<span data-k="hit-ratio" data-v="0.9">90.0 %</span>')
  t.match(html, '<span data-k="bytes-from-cache" data-v="5242880">5.00 MiB</span>')
  t.match(html, '<meter min="0" max="4096" value="2048">')
  const bars = [...html.matchAll(/<rect class="(\w+)" x="(\d+)" y="[\d.]+" width="2" height="(\d+)"\/>/g)]
  t.equal(bars.filter((m) => m[1] === 'up').length, 60, 'a bar for each minute fetched upstream')
  t.equal(bars.filter((m) => m[1] === 'hit').length, 59, 'and from the cache (minute 0 served nothing)')
  t.equal(bars.at(-2)![3], '38', 'the peak minute is full height')
})

t.test('the most-pulled table is bounded and keeps the heavy hitters', async (t) => {
  const top = new TopRepositories(10)
  for (let i = 0; i < 10_000; i++) {
    top.add(`flood/${i}`, 1)
    if (i % 10 === 0) top.add('library/alpine', 100)
  }
  const s = top.snapshot()
  t.equal(s.length, 10, 'never more than its capacity')
  t.equal(s[0]![0], 'library/alpine')
  t.ok(s[0]![1] >= 100_000, 'its count is not lost')
  const merged = mergeRepositories([s, [['library/alpine', 5], ['other', 1]]], 3)
  t.equal(merged.length, 3)
  t.same(merged[0], ['library/alpine', s[0]![1] + 5], 'summed across processes')
})
