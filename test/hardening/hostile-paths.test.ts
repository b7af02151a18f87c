// Path traversal and encoding tricks in repository names, digests and
// request targets never reach the upstream or the disk: every one is a 4xx
// registry error (400 NAME_INVALID / DIGEST_INVALID, 404, 405, 431), sent
// over a raw socket so nothing normalises it first.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { rawRequest } from './fixtures/raw-http.js'

const hex = 'a'.repeat(64)

const targets = [
  '/v2/../../etc/passwd/manifests/latest',
  '/v2/a/../b/manifests/latest',
  '/v2/./a/manifests/latest',
  '/v2/%2e%2e/%2e%2e/manifests/x',
  '/v2/%2E%2E%2Fetc/manifests/x',
  '/v2/a%2fb/blobs/sha256:' + hex,
  '/v2/a%252e%252e/manifests/x',
  '/v2/a\\..\\b/manifests/x',
  '/v2/a%00b/manifests/x',
  '/v2/a/blobs/sha256:../../../../etc/passwd',
  `/v2/a/blobs/sha256:${hex}/../../x`,
  `/v2/a/blobs/sha256:${hex}%00`,
  `/v2/a/blobs/sha256:${hex.slice(1)}..`,
  `/v2/a/blobs/sha256:${hex.toUpperCase()}`,
  `/v2/a/blobs/sha512:${hex}`,
  `/v2/a/blobs/md5:${hex.slice(0, 32)}`,
  '/v2/a/manifests/..%2f..%2fetc',
  '/v2/a/manifests/..',
  '/v2//manifests/x',
  '/v2/a//b/manifests/x',
  '/v2/a/b/',
  `/v2/${'a/'.repeat(200)}b/manifests/x`,
  `/v2/${'a'.repeat(256)}/manifests/x`,
  `/v2/a/manifests/${'t'.repeat(129)}`,
  '/v2/a/tags/list/../../../x',
  '/v2/A/manifests/x',
  '/v2/a-/manifests/x',
  '/v2/a_/manifests/x',
  '/v2/a\u00e9/manifests/x',
  'http://evil.example/v2/a/manifests/x',
  '*',
  '/healthz/../v2/',
  '/%2e%2e/v2/',
  '/token/%2e%2e/%2e%2e/etc/passwd',
  `/v2/${'a'.repeat(40_000)}/manifests/x`,
]

t.test('traversal and encodings in request targets', async (t) => {
  const h = await startHarness(t, { cache: true })
  const upstreamBefore = h.reg.requests.length
  const cacheBefore = listTree(h.cacheDir!)
  for (const target of targets) {
    const r = await rawRequest(h.proxy.port, Buffer.from(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 'latin1'))
    const label = target.length > 80 ? target.slice(0, 80) + '…' : target
    t.ok(r.status !== null && r.status >= 400 && r.status < 500, `${label} → ${r.status}`)
    const body = r.raw.toString('latin1')
    t.match(body, /"errors":\[\{"code":"[A-Z_]+"/, 'a registry error body')
  }
  t.equal(h.reg.requests.length, upstreamBefore, 'nothing reached the upstream')
  t.same(listTree(h.cacheDir!), cacheBefore, 'nothing was created on disk')
  await h.assertClean(t)
})

function listTree(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      out.push(p)
      if (e.isDirectory()) walk(p)
    }
  }
  walk(dir)
  return out.sort()
}
