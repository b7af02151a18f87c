// Thousands of generated requests over raw TCP, valid, odd and hostile
// mixed (methods, targets with traversal and encodings, Host and Range
// variants, framing conflicts, bodies, random bytes): every one is answered
// with a well-formed HTTP status line and no 5xx, or, for input that is not
// HTTP, the connection is closed; none hangs. Afterwards the proxy is
// healthy and its sockets and files are back to the baseline.
//
// FUZZ_REQUESTS (default 3000) and FUZZ_SEED (default fixed) reproduce a run.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { rawRequest } from './fixtures/raw-http.js'
import { prng } from '../fixtures/prng.js'

const TOTAL = Number(process.env['FUZZ_REQUESTS'] ?? 3000)
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed)
const CONCURRENCY = 32

t.test(`fuzz: ${TOTAL} requests (seed ${SEED})`, async (t) => {
  const h = await startHarness(t, { cache: true, registry: { auth: false } })
  h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2 })
  const rnd = prng(SEED)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!
  const chance = (p: number) => rnd() < p
  const randomBytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)))

  const hex = h.digest.slice(7)
  const bases = [
    h.blobPath,
    `/v2/${h.repo}/manifests/v1`,
    `/v2/${h.repo}/manifests/sha256:${hex}`,
    `/v2/${h.repo}/tags/list`,
    `/v2/${h.repo}/referrers/sha256:${hex}`,
    '/v2/',
    '/v2',
    '/healthz',
    '/help',
    '/metrics',
    `/token/default/http/127.0.0.1:${h.reg.ports.token}/token`,
    `/v2/library/alpine/blobs/sha256:${'0'.repeat(64)}`,
    '/',
  ]
  const mutations: Array<(p: string) => string> = [
    (p) => p,
    (p) => p.replace('/v2/', '/v2/../'),
    (p) => p.replace(/\/([^/]+)$/, '/%2e%2e/$1'),
    (p) => p.replace('/', '/%2f'),
    (p) => p + '%00',
    (p) => p.replace(/\//g, '\\'),
    (p) => p + '/' + 'a'.repeat(Math.floor(rnd() * 400)),
    (p) => p + '?' + 'n=1&'.repeat(Math.floor(rnd() * 200)) + 'ns=docker.io',
    (p) => p.toUpperCase(),
    (p) => p.replace(/[a-f0-9]{64}/, 'g'.repeat(64)),
    (p) => p.slice(0, Math.floor(rnd() * p.length)),
    (p) => p + '#frag',
    (p) => encodeURI(p + '/é'),
    (p) => p.replace('sha256', 'sha512'),
    (p) => `http://evil.example${p}`,
  ]
  const hosts = ['127.0.0.1', 'mirror.test:5000', '[::1]:5000', 'a b', 'evil@x', '', 'x'.repeat(300), '127.0.0.1:99999', 'ünï', 'a..b', '-']
  const ranges = ['bytes=0-99', 'bytes=100-', 'bytes=-100', 'bytes=5-3', 'bytes=abc', 'bytes=0-0,2-3', `bytes=${'9'.repeat(30)}-`, 'items=1-2']
  const methods = ['GET', 'GET', 'GET', 'HEAD', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PROPFIND', 'TRACE', 'get', 'G ET', 'BREW']

  type Case = { data: Buffer; http: boolean }
  const generate = (): Case => {
    if (chance(0.05)) return { data: randomBytes(1 + Math.floor(rnd() * 300)), http: false }
    const method = pick(methods)
    const target = chance(0.4) ? pick(bases) : pick(mutations)(pick(bases))
    const version = chance(0.95) ? 'HTTP/1.1' : pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1x', 'HTTP/'])
    const headers: string[] = []
    if (!chance(0.05)) headers.push(`Host: ${chance(0.8) ? '127.0.0.1' : pick(hosts)}`)
    if (chance(0.05)) headers.push(`Host: ${pick(hosts)}`)
    if (chance(0.2)) headers.push(`Range: ${pick(ranges)}`)
    if (chance(0.2)) headers.push(`Authorization: Bearer ${chance(0.5) ? 'fault-registry-token' : randomBytes(8).toString('hex')}`)
    if (chance(0.1)) headers.push(`X-Forwarded-Host: ${pick(hosts)}`, 'X-Forwarded-Proto: https')
    if (chance(0.1)) headers.push(`Accept: ${pick(['*/*', 'application/vnd.oci.image.manifest.v1+json', ''])}`)
    if (chance(0.03)) headers.push(`X-Big: ${'x'.repeat(20_000 + Math.floor(rnd() * 30_000))}`)
    if (chance(0.05)) headers.push(`${randomBytes(4).toString('latin1')}: y`)
    let body = ''
    if (chance(0.1)) {
      body = randomBytes(Math.floor(rnd() * 200)).toString('latin1')
      headers.push(`Content-Length: ${chance(0.8) ? Buffer.byteLength(body, 'latin1') : Math.floor(rnd() * 400)}`)
    }
    if (chance(0.05)) headers.push('Transfer-Encoding: chunked')
    const close = chance(0.9)
    if (close) headers.push('Connection: close')
    const head = `${method} ${target} ${version}\r\n${headers.join('\r\n')}\r\n\r\n`
    const one = Buffer.from(head + body, 'latin1')
    // Some keep-alive connections pipeline a second request.
    const data = close ? one : Buffer.concat([one, Buffer.from('GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')])
    const wellFormed = /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PROPFIND|TRACE) [^\s]+ HTTP\/1\.[01]$/.test(`${method} ${target} ${version}`)
    return { data, http: wellFormed }
  }

  const cases = Array.from({ length: TOTAL }, generate)
  const problems: string[] = []
  const statuses = new Map<number | string, number>()
  const rssBefore = process.memoryUsage().rss
  const started = Date.now()
  let next = 0
  const worker = async () => {
    while (next < cases.length) {
      const i = next++
      const c = cases[i]!
      const r = await rawRequest(h.proxy.port, c.data, { timeoutMs: 5000 })
      const key = r.status ?? (r.closed ? 'closed' : 'hung')
      statuses.set(key, (statuses.get(key) ?? 0) + 1)
      const what = () => JSON.stringify(c.data.toString('latin1').slice(0, 160))
      if (!r.closed && r.status === null) problems.push(`#${i} hung: ${what()}`)
      else if (r.status !== null && r.status >= 500 && r.status !== 502 && r.status !== 505) problems.push(`#${i} answered ${r.status}: ${what()} → ${r.raw.toString('latin1').slice(0, 300)}`)
      else if (r.status === null && c.http) problems.push(`#${i} well-formed request closed without an answer: ${what()}`)
      else if (r.status !== null && !/^HTTP\/1\.1 \d{3} /.test(r.raw.toString('latin1'))) problems.push(`#${i} malformed status line: ${what()}`)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const ms = Date.now() - started
  t.comment(`${TOTAL} requests in ${ms} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.same(problems.slice(0, 20), [], 'every request got a well-formed answer (or a closed connection for non-HTTP input), no 5xx, no hang')
  t.ok(ms < 30_000, `within 30 s (${ms} ms)`)
  t.equal((await h.get('/healthz')).status, 200, 'healthy afterwards')
  const blob = await h.get(h.blobPath)
  t.equal(blob.status, 200, 'and still serving blobs')
  const rss = process.memoryUsage().rss - rssBefore
  t.ok(rss < 128 * 1024 * 1024, `RSS grew by ${(rss / 1024 / 1024).toFixed(1)} MiB (test and proxy together; tolerance 128 MiB)`)
  await h.assertClean(t)
})
