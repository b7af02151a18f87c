// The status page at / and /status.json after real pulls (skopeo through the
// CLI from a token-auth docker-registry with CDN redirects): the figures a
// user reads, no credential or token anywhere in them, client-chosen names
// escaped, and --no-status giving / back to the 404 it was.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startCliProxy, type CliProxy } from '../fixtures/cli-proxy.js'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { request, startTestProxy } from '../fixtures/proxy.js'
import { requireTools } from '../fixtures/real/available.js'
import { startHubLike, type HubLike } from '../fixtures/real/hub.js'
import { skopeo } from '../fixtures/real/images.js'
import type { StatusData } from '../../lib/status/status-data.js'

t.test('status page and status.json after real pulls', requireTools(['docker-registry', 'skopeo', 'nginx', 'openssl']), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-status-'))
  let hub: HubLike | undefined
  let proxy: CliProxy | undefined
  t.teardown(async () => {
    await proxy?.close()
    await hub?.close()
    rmSync(dir, { recursive: true, force: true })
  })
  hub = await startHubLike(join(dir, 'hub'))
  const mapFile = join(dir, 'map.json')
  writeFileSync(mapFile, JSON.stringify({ default: hub.registry.url }))
  proxy = await startCliProxy([
    '--registry-map', mapFile, '--cache-dir', join(dir, 'cache'), '--cache-max-size', '1GiB',
    '--redirect-allow', hub.redirectAllow.join(','),
  ])
  const p = proxy
  const img = hub.images['library/alpine:3.19']!
  const secret = hub.images['private/secret:1']!
  const password = secret.creds!.split(':')[1]!

  await skopeo(['copy', '--src-tls-verify=false', `docker://127.0.0.1:${p.port}/library/alpine:3.19`, `dir:${join(dir, 'out1')}`])
  await skopeo(['copy', '--src-tls-verify=false', '--src-creds', secret.creds!, `docker://127.0.0.1:${p.port}/private/secret:1`, `dir:${join(dir, 'out2')}`])
  // A token of our own, fetched through the proxy's relay and used for a pull.
  const realm = new URL(`${p.url}/token/`)
  const challenge = (await request(p.url, '/v2/private/secret/manifests/1')).headers['www-authenticate'] as string
  const tokenUrl = new URL(/realm="([^"]+)"/.exec(challenge)![1]!)
  t.equal(tokenUrl.origin, realm.origin, 'the realm is the proxy’s relay')
  tokenUrl.searchParams.set('service', hub.service)
  tokenUrl.searchParams.set('scope', 'repository:private/secret:pull')
  const tok = await request(p.url, tokenUrl.pathname + tokenUrl.search, { headers: { authorization: `Basic ${Buffer.from(secret.creds!).toString('base64')}` } })
  t.equal(tok.status, 200)
  const token = JSON.parse(tok.body.toString()).token as string
  t.ok(token.length > 20)
  const layer = secret.layers[0]!
  t.equal((await request(p.url, `/v2/private/secret/blobs/${layer}`, { headers: { authorization: `Bearer ${token}` } })).status, 200)
  // A client-chosen name that is no repository name: refused, and shown nowhere unescaped.
  const hostile = '/v2/%3Cscript%3Ealert(1)%3C/script%3E/manifests/x'
  t.equal((await request(p.url, hostile)).status, 400)

  const page = await request(p.url, '/')
  t.equal(page.status, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.headers['content-security-policy'], /default-src 'none'; script-src 'sha256-/)
  const html = page.body.toString()
  const json = await request(p.url, '/status.json')
  t.equal(json.status, 200)
  const d = JSON.parse(json.body.toString()) as StatusData

  for (const [what, text] of [['page', html], ['status.json', json.body.toString()]] as const) {
    t.notOk(text.includes(password), `${what}: no password`)
    t.notOk(text.includes(token), `${what}: no token`)
    t.notOk(text.includes(token.split('.')[2]!), `${what}: not even the token's signature`)
    t.notOk(/eyJ[A-Za-z0-9_-]{10,}/.test(text), `${what}: no JWT of any pull`)
    t.notOk(/Basic [A-Za-z0-9+/=]{8,}|Bearer /.test(text), `${what}: no Authorization value`)
    t.notOk(/<script>alert/i.test(text), `${what}: no injected script`)
  }

  const blobBytes = img.blobs.reduce((n, b) => n + img.sizes[b]!, 0) + secret.blobs.reduce((n, b) => n + secret.sizes[b]!, 0)
  t.equal(d.cache!.bytesFromUpstream, blobBytes, 'fetched upstream: every blob pulled, once')
  t.equal(d.cache!.bytesFromCache, secret.sizes[layer], 'served from the cache: the layer pulled again with our token')
  t.equal(d.cache!.maxBytes, 1024 ** 3)
  t.ok(d.cache!.bytes >= blobBytes, 'the blobs are on disk')
  t.equal(d.cache!.hits, 1)
  t.equal(d.cache!.misses, img.blobs.length + secret.blobs.length)
  t.equal(d.processes, 1)
  const names = d.repositories.map((r) => r.name)
  t.same(names.slice(0, 2), ['default/library/alpine', 'default/private/secret'], 'most pulled by bytes')
  t.ok(d.repositories[0]!.bytes > img.sizes[img.layers.at(-1)!]!, 'alpine counts at least its largest layer')
  const reg = d.upstreams.find((u) => u.host === hub!.registry.host)!
  t.ok(reg, 'the registry is listed')
  t.ok(reg.lastSuccess! <= d.now && reg.lastSuccess! > d.now - 60_000, 'last success just now')
  t.ok(reg.p50Seconds! > 0 && reg.p99Seconds! >= reg.p50Seconds!, 'latency quantiles')
  t.equal(reg.errors, 0)
  t.ok(d.upstreams.some((u) => u.host === new URL(hub!.cdn.url).host), 'the CDN hop is an upstream too')
  t.match(html, `<tr data-repo="default/library/alpine">`, 'the page lists it')
  t.match(html, `data-k="bytes-from-upstream" data-v="${blobBytes}"`, 'the page shows the figure')
  t.match(html, /<svg [^>]*aria-label="bytes per minute, last hour"/)

  // Routing: /v2/ and the rest answer as before.
  t.equal((await request(p.url, '/v2/')).status, 401, '/v2/ still the registry')
  t.equal((await request(p.url, '/index.html')).status, 404)
  t.equal((await request(p.url, '/', { method: 'POST' })).status, 405)
})

t.test('--no-status: / is the 404 it always was', async (t) => {
  const dir = t.testdir()
  writeFileSync(join(dir, 'map.json'), JSON.stringify({ default: 'http://127.0.0.1:1' }))
  const p = await startCliProxy(['--registry-map', join(dir, 'map.json'), '--no-status'])
  t.teardown(() => p.close())
  for (const path of ['/', '/status.json']) {
    const r = await request(p.url, path)
    t.equal(r.status, 404, path)
    t.match(JSON.parse(r.body.toString()), { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] })
  }
  const q = await startCliProxy(['--registry-map', join(dir, 'map.json')], { env: { CRPROXY_STATUS: 'false' } })
  t.teardown(() => q.close())
  t.equal((await request(q.url, '/')).status, 404, 'CRPROXY_STATUS=false')
  t.equal((await request(p.url, '/metrics')).status, 200, '/metrics stays')
})

t.test("an upstream's rate limit and its errors, as it announced them", async (t) => {
  // Docker Hub's headers on every answer; a 429 with Retry-After for one repository.
  const upstream = http.createServer((req, res) => {
    res.setHeader('ratelimit-limit', '100;w=21600')
    res.setHeader('ratelimit-remaining', req.url?.includes('/limited/') ? '0;w=21600' : '76;w=21600')
    if (req.url?.includes('/limited/')) {
      res.writeHead(429, { 'retry-after': '3600', 'content-type': 'application/json' })
      return res.end('{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]}')
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r))
  t.teardown(() => upstream.close())
  const host = `127.0.0.1:${(upstream.address() as AddressInfo).port}`
  const proxy = await startTestProxy(t, { registryMap: { default: `http://${host}` } })
  t.equal((await request(proxy.url, '/v2/')).status, 200)
  let d = JSON.parse((await request(proxy.url, '/status.json')).body.toString()) as StatusData
  t.match(d.upstreams, [{ host, requests: 1, errors: 0, rateLimit: { limit: 100, remaining: 76, windowSeconds: 21600 } }])
  t.notOk(d.upstreams[0]!.lastError)
  t.match((await request(proxy.url, '/')).body.toString(), '<td>76 of 100 left per 6 h (0 s ago)</td>')

  t.equal((await request(proxy.url, '/v2/limited/app/manifests/1')).status, 429)
  d = JSON.parse((await request(proxy.url, '/status.json')).body.toString()) as StatusData
  t.match(d.upstreams[0], { host, requests: 2, lastError: { what: 'HTTP 429' }, rateLimit: { limit: 100, remaining: 0, retryAfterSeconds: 3600 } })
  t.match((await request(proxy.url, '/')).body.toString(), /<td class="bad">HTTP 429, 0 s ago<\/td>/)
})
