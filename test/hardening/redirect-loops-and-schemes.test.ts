// Redirects the proxy will not follow: loops (more than 10 hops), non-http(s)
// schemes (file:, ftp:, gopher:, data:, javascript:) and unparsable
// Locations all end in a fast 502 registry error; nothing is fetched through
// them, nothing cached or left open, and the next pull succeeds.
import t from 'tap'
import { faultScenario, isRegistryError, startHarness } from './fixtures/harness.js'

t.test('a redirect loop gives up after 10 hops', async (t) => {
  await faultScenario(t, {
    cache: true,
    inject: (h) => h.reg.fault('cdn', { kind: 'redirect', location: '/blobs/loop', status: 302 }),
    expect: (o, h) => {
      t.equal(o.status, 502)
      t.match(o.body.toString(), /redirect/)
      t.equal(h.reg.count('cdn', 'GET'), 10 + 1, '11 requests in all (registry + 10 CDN hops), then no more (+1: the warm-up)')
    },
  })
})

const locations = [
  'file:///etc/passwd',
  'ftp://127.0.0.1/blob',
  'gopher://127.0.0.1:70/_GET',
  'data:application/octet-stream;base64,AAAA',
  'javascript:alert(1)',
  'http://[::1',
  'http://',
  'http://a b/',
  'http://%zz/',
  'https://256.256.256.256/',
]
t.test('Locations that are not http(s) or do not parse', async (t) => {
  const h = await startHarness(t, { cache: true })
  for (const location of locations) {
    h.reg.clearFaults()
    h.reg.fault('registry', { kind: 'redirect', location }, { path: /blobs/ })
    const o = await h.get(h.blobPath)
    t.equal(o.status, 502, location)
    t.ok(isRegistryError(o), 'a registry error body')
  }
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  await h.assertClean(t)
  await h.assertRecovers(t)
})
