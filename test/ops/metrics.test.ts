// /metrics in Prometheus text format: requests by upstream and status, the
// upstream latency histogram, token fetches, open connections; and the
// request id travelling from the client to every upstream hop.
import t from 'tap'
import { Metrics } from '../../lib/metrics.js'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { ACCEPT_ALL_MANIFESTS, PullClient, request, startTestProxy } from '../fixtures/proxy.js'

/** Checks the exposition format line by line; returns samples by series text. */
function parseExposition(t: Tap, text: string): Map<string, number> {
  const samples = new Map<string, number>()
  const typed = new Map<string, string>()
  for (const line of text.trimEnd().split('\n')) {
    let m: RegExpExecArray | null
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line))) continue
    if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram)$/.exec(line))) {
      typed.set(m[1]!, m[2]!)
      continue
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/.exec(line)
    if (!m) {
      t.fail(`not an exposition line: ${line}`)
      continue
    }
    const family = m[1]!.replace(/_(bucket|sum|count)$/, (s) => (typed.get(m![1]!.slice(0, -s.length)) === 'histogram' ? '' : s))
    if (!typed.has(family)) t.fail(`sample before its # TYPE: ${line}`)
    samples.set(m[1]! + (m[2] ?? ''), Number(m[3]))
  }
  return samples
}
type Tap = { fail(msg: string): void }

t.test('histogram rendering', async (t) => {
  const m = new Metrics()
  const h = m.histogram('x_seconds', 'test', [0.1, 1])
  h.observe(0.05, { host: 'a' })
  h.observe(0.5, { host: 'a' })
  h.observe(3, { host: 'a' })
  const text = m.render()
  t.match(text, '# TYPE x_seconds histogram\n')
  const s = parseExposition(t, text)
  t.equal(s.get('x_seconds_bucket{host="a",le="0.1"}'), 1)
  t.equal(s.get('x_seconds_bucket{host="a",le="1"}'), 2, 'cumulative')
  t.equal(s.get('x_seconds_bucket{host="a",le="+Inf"}'), 3)
  t.equal(s.get('x_seconds_sum{host="a"}'), 3.55)
  t.equal(s.get('x_seconds_count{host="a"}'), 3)
})

t.test('/metrics after a pull; X-Request-Id reaches every upstream hop', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const c = new PullClient(proxy.url)
  const img = hub.images['library/alpine:3.19']!
  const id = 'ci-run-42.step_7'
  t.equal((await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL_MANIFESTS, 'x-request-id': id })).status, 200)
  const blob = await c.get(`/v2/library/alpine/blobs/${img.blobs[0]}`, { 'x-request-id': id })
  t.equal(blob.status, 200)
  t.equal(blob.headers['x-request-id'], id, 'echoed to the client')

  const hops = hub.requests.filter((r) => r.headers['x-request-id'] === id).map((r) => `${r.server} ${r.method}`)
  t.same(hops, ['registry GET', 'registry GET', 'registry GET', 'cdn GET'], 'manifest (401, then with token), blob, and its CDN redirect')
  const tokenReq = hub.requests.find((r) => r.server === 'token')!
  t.match(tokenReq.headers['x-request-id'], /^[A-Za-z0-9._-]+$/, 'the token relay sends one too')
  const bad = await request(proxy.url, '/healthz', { headers: { 'x-request-id': 'no spaces allowed' } })
  t.match(bad.headers['x-request-id'], /^[0-9a-f]{16}$/, 'an unusable id is replaced')

  const text = (await request(proxy.url, '/metrics')).body.toString()
  const s = parseExposition(t, text)
  t.match(text, '# TYPE crproxy_upstream_request_duration_seconds histogram')
  const reg = hub.registryHost
  const cdn = new URL(hub.cdnUrl).host
  const count = (host: string, status: string) => s.get(`crproxy_upstream_request_duration_seconds_count{host="${host}",status="${status}"}`)
  t.equal(count(reg, '4xx'), 1, 'the 401 before the token')
  t.equal(count(reg, '2xx'), 1, 'the manifest')
  t.equal(count(reg, '3xx'), 1, 'the blob redirect')
  t.equal(count(cdn, '2xx'), 1, 'the CDN')
  t.equal(s.get(`crproxy_upstream_request_duration_seconds_bucket{host="${cdn}",le="+Inf",status="2xx"}`), 1)
  t.ok((s.get(`crproxy_upstream_request_duration_seconds_sum{host="${cdn}",status="2xx"}`) ?? -1) >= 0)
  const le = [...s.keys()].filter((k) => k.startsWith(`crproxy_upstream_request_duration_seconds_bucket{host="${cdn}"`)).map((k) => /le="([^"]+)"/.exec(k)![1])
  t.same(le, ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '+Inf'])
  t.equal(s.get('crproxy_requests_total{status="200",upstream="default"}'), 3, 'token, manifest, blob')
  t.equal(s.get('crproxy_requests_total{status="401",upstream="default"}'), 1)
  t.ok((s.get('crproxy_open_connections') ?? 0) >= 1, 'this connection is open')
})

t.test('upstream failures are counted by kind', async (t) => {
  const proxy = await startTestProxy(t, { registryMap: { default: 'http://127.0.0.1:1' } })
  t.equal((await request(proxy.url, '/v2/')).status, 502)
  const s = parseExposition(t, (await request(proxy.url, '/metrics')).body.toString())
  t.equal(s.get('crproxy_upstream_failures_total{host="127.0.0.1:1",kind="connect"}'), 1)
})
