import t from 'tap'
import {
  MT_DOCKER_LIST,
  MT_DOCKER_MANIFEST,
  MT_OCI_INDEX,
  MT_OCI_MANIFEST,
  seededBytes,
  sha256Digest,
  startFakeHub,
} from '../fixtures/fake-hub.js'
import type { FakeHub } from '../fixtures/fake-hub.js'

const ACCEPT_ALL = [MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST].join(', ')

function parseChallenge(h: string | null): Record<string, string> {
  const out: Record<string, string> = {}
  if (!h) return out
  for (const m of h.replace(/^Bearer\s+/i, '').matchAll(/(\w+)="([^"]*)"/g)) out[m[1] ?? ''] = m[2] ?? ''
  return out
}

async function getToken(hub: FakeHub, scope: string, basic?: string): Promise<string> {
  const u = new URL(hub.tokenUrl)
  u.searchParams.set('service', 'fake-hub')
  u.searchParams.append('scope', scope)
  const headers: Record<string, string> = basic ? { Authorization: 'Basic ' + Buffer.from(basic).toString('base64') } : {}
  const res = await fetch(u, { headers })
  if (res.status !== 200) throw new Error(`token status ${res.status}`)
  const j = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string }
  return j.token
}

/** Follows a blob redirect chain manually, asserting the CDN hop refuses Authorization. */
async function pullBlob(t: Tap, hub: FakeHub, repo: string, digest: string, token: string): Promise<Buffer> {
  let url = `${hub.registryUrl}/v2/${repo}/blobs/${digest}`
  let auth: string | undefined = `Bearer ${token}`
  for (let hop = 0; hop < 5; hop++) {
    const res = await fetch(url, { redirect: 'manual', headers: auth ? { Authorization: auth } : {} })
    if (res.status >= 300 && res.status < 400) {
      const loc = res.headers.get('location')
      if (!loc) throw new Error('redirect without Location')
      const next = new URL(loc, url)
      if (next.origin !== new URL(url).origin) auth = undefined
      url = next.href
      continue
    }
    if (new URL(url).origin === hub.cdnUrl) {
      const leak = await fetch(url, { headers: { Authorization: `Bearer ${token}` } })
      t.equal(leak.status, 400, 'CDN refuses Authorization')
      await leak.arrayBuffer()
    }
    t.equal(res.status, 200)
    t.equal(res.headers.get('content-type'), 'application/octet-stream')
    const buf = Buffer.from(await res.arrayBuffer())
    t.equal(Number(res.headers.get('content-length')), buf.length)
    return buf
  }
  throw new Error('too many redirects')
}

/** A subtest's `t` (conditional types resolve against the last `t.test` overload, `(cb)`). */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

t.test('anonymous pull of library/alpine:3.19', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 1024 })
  t.teardown(() => hub.close())
  const img = hub.images['library/alpine:3.19']
  if (!img) throw new Error('missing image')

  const ping = await fetch(`${hub.registryUrl}/v2/`)
  t.equal(ping.status, 401)
  t.equal(ping.headers.get('docker-distribution-api-version'), 'registry/2.0')
  const ch = parseChallenge(ping.headers.get('www-authenticate'))
  t.equal(ch['realm'], hub.tokenUrl)
  t.equal(ch['service'], 'fake-hub')

  const noTok = await fetch(`${hub.registryUrl}/v2/library/alpine/manifests/3.19`, { headers: { Accept: ACCEPT_ALL } })
  t.equal(noTok.status, 401)
  t.equal(parseChallenge(noTok.headers.get('www-authenticate'))['scope'], 'repository:library/alpine:pull')
  t.match(await noTok.json(), { errors: [{ code: 'UNAUTHORIZED' }] })

  const token = await getToken(hub, 'repository:library/alpine:pull')
  const auth = { Authorization: `Bearer ${token}` }
  const ping2 = await fetch(`${hub.registryUrl}/v2/`, { headers: auth })
  t.equal(ping2.status, 200)
  t.same(await ping2.json(), {})

  // OCI index not served without OCI in Accept
  const noOci = await fetch(`${hub.registryUrl}/v2/library/alpine/manifests/3.19`, { headers: { ...auth, Accept: MT_DOCKER_MANIFEST } })
  t.equal(noOci.status, 404)
  t.match(await noOci.json(), { errors: [{ code: 'MANIFEST_UNKNOWN' }] })

  const head = await fetch(`${hub.registryUrl}/v2/library/alpine/manifests/3.19`, { method: 'HEAD', headers: { ...auth, Accept: ACCEPT_ALL } })
  t.equal(head.status, 200)
  t.equal(head.headers.get('docker-content-digest'), img.digest)
  t.equal(Number(head.headers.get('content-length')), img.body.length)

  const idxRes = await fetch(`${hub.registryUrl}/v2/library/alpine/manifests/3.19`, { headers: { ...auth, Accept: ACCEPT_ALL } })
  t.equal(idxRes.status, 200)
  t.equal(idxRes.headers.get('content-type'), MT_OCI_INDEX)
  const idxBody = Buffer.from(await idxRes.arrayBuffer())
  t.equal(Number(idxRes.headers.get('content-length')), idxBody.length)
  t.equal(idxRes.headers.get('docker-content-digest'), sha256Digest(idxBody))
  t.equal(sha256Digest(idxBody), img.digest)

  const cond = await fetch(`${hub.registryUrl}/v2/library/alpine/manifests/3.19`, {
    headers: { ...auth, Accept: ACCEPT_ALL, 'If-None-Match': `"${img.digest}"` },
  })
  t.equal(cond.status, 304)

  const index = JSON.parse(idxBody.toString()) as { manifests: Array<{ digest: string; platform: { architecture: string } }> }
  t.equal(index.manifests.length, 2)
  const seen = new Set<string>()
  for (const pm of index.manifests) {
    const r = await fetch(`${hub.registryUrl}/v2/library/alpine/manifests/${pm.digest}`, { headers: { ...auth, Accept: ACCEPT_ALL } })
    t.equal(r.status, 200)
    t.equal(r.headers.get('content-type'), MT_OCI_MANIFEST)
    const body = Buffer.from(await r.arrayBuffer())
    t.equal(sha256Digest(body), pm.digest, `platform ${pm.platform.architecture} digest`)
    const man = JSON.parse(body.toString()) as { config: { digest: string; size: number }; layers: Array<{ digest: string; size: number }> }
    t.equal(man.layers.length, 2)
    for (const d of [man.config, ...man.layers]) {
      const bytes = await pullBlob(t, hub, 'library/alpine', d.digest, token)
      t.equal(bytes.length, d.size)
      t.equal(sha256Digest(bytes), d.digest, 'blob sha256 matches')
      seen.add(d.digest)
    }
  }
  t.same([...seen].sort(), [...img.blobs].sort(), 'images[].blobs lists every blob')
  t.equal(hub.cdnAuthLeaks, seen.size, 'every Authorization probe was counted')
  t.equal(hub.count('cdn', 'GET', '/blobs/'), seen.size * 2)
  t.equal(hub.count('registry', 'GET', /\/blobs\//), seen.size)
  hub.reset()
  t.equal(hub.requests.length, 0)
  t.equal(hub.cdnAuthLeaks, 0)
})

t.test('private pull needs alice', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 1024 })
  t.teardown(() => hub.close())
  const img = hub.images['private/secret:1']
  if (!img) throw new Error('missing image')
  const url = `${hub.registryUrl}/v2/private/secret/manifests/1`

  const anon = await getToken(hub, 'repository:private/secret:pull')
  const r1 = await fetch(url, { headers: { Authorization: `Bearer ${anon}`, Accept: MT_OCI_MANIFEST } })
  t.equal(r1.status, 401)
  t.match(await r1.json(), { errors: [{ code: 'UNAUTHORIZED' }] })

  await t.rejects(getToken(hub, 'repository:private/secret:pull', 'alice:wrong'), /401/)

  const tok = await getToken(hub, 'repository:private/secret:pull', 'alice:wonderland')
  const r2 = await fetch(url, { headers: { Authorization: `Bearer ${tok}`, Accept: MT_OCI_MANIFEST } })
  t.equal(r2.status, 200)
  t.equal(sha256Digest(Buffer.from(await r2.arrayBuffer())), img.digest)
  for (const d of img.blobs) t.equal(sha256Digest(await pullBlob(t, hub, 'private/secret', d, tok)), d)

  // OAuth2 password grant + refresh grant (POST form)
  const post = await fetch(hub.tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'wonderland', scope: 'repository:private/secret:pull', service: 'fake-hub', client_id: 'test' }),
  })
  t.equal(post.status, 200)
  const pj = (await post.json()) as { access_token: string; refresh_token: string; expires_in: number }
  t.equal(pj.expires_in, 300)
  t.type(pj.refresh_token, 'string')
  const refresh = await fetch(hub.tokenUrl, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: pj.refresh_token, scope: 'repository:private/secret:pull', service: 'fake-hub' }),
  })
  t.equal(refresh.status, 200)
  const rj = (await refresh.json()) as { token: string }
  const r3 = await fetch(url, { method: 'HEAD', headers: { Authorization: `Bearer ${rj.token}`, Accept: MT_OCI_MANIFEST } })
  t.equal(r3.status, 200)
  const badPw = await fetch(hub.tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'x' }) })
  t.equal(badPw.status, 401)

  hub.expireTokens()
  const r4 = await fetch(url, { method: 'HEAD', headers: { Authorization: `Bearer ${rj.token}`, Accept: MT_OCI_MANIFEST } })
  t.equal(r4.status, 401)
  t.match(r4.headers.get('www-authenticate'), /error="invalid_token"/)
})

t.test('CDN Range', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 1024 })
  t.teardown(() => hub.close())
  const bytes = seededBytes('range', 2048)
  const digest = hub.putBlob(bytes, 'library/alpine')
  const url = `${hub.cdnUrl}/blobs/${digest.slice(7)}?sig=whatever`
  const cases: Array<[string, number, string, Buffer | null]> = [
    ['bytes=500-1499', 206, 'bytes 500-1499/2048', bytes.subarray(500, 1500)],
    ['bytes=500-', 206, 'bytes 500-2047/2048', bytes.subarray(500)],
    ['bytes=-500', 206, 'bytes 1548-2047/2048', bytes.subarray(1548)],
    ['bytes=2000-5000', 206, 'bytes 2000-2047/2048', bytes.subarray(2000)],
    ['bytes=500-0', 416, 'bytes */2048', null],
    ['bytes=2048-', 416, 'bytes */2048', null],
  ]
  for (const [range, status, cr, want] of cases) {
    const r = await fetch(url, { headers: { Range: range } })
    t.equal(r.status, status, range)
    t.equal(r.headers.get('content-range'), cr, range)
    const body = Buffer.from(await r.arrayBuffer())
    if (want) t.ok(body.equals(want), `${range} body`)
  }
  const full = await fetch(url)
  t.equal(full.status, 200)
  t.ok(Buffer.from(await full.arrayBuffer()).equals(bytes))
  const head = await fetch(url, { method: 'HEAD' })
  t.equal(head.headers.get('content-length'), '2048')
})

t.test('405 for push/delete', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 1024 })
  t.teardown(() => hub.close())
  for (const [method, path] of [
    ['PUT', '/v2/library/alpine/manifests/new'],
    ['DELETE', '/v2/library/alpine/manifests/3.19'],
    ['POST', '/v2/library/alpine/blobs/uploads/'],
  ] as const) {
    const r = await fetch(hub.registryUrl + path, { method, ...(method === 'PUT' ? { body: '{}' } : {}) })
    t.equal(r.status, 405, `${method} ${path}`)
    t.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0')
    t.match(await r.json(), { errors: [{ code: 'UNSUPPORTED' }] })
  }
})

t.test('negotiation, names, tags, referrers, runtime content', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 1024 })
  t.teardown(() => hub.close())
  const tok = await getToken(hub, 'repository:library/multi:pull repository:library/busybox:pull repository:library/nope:pull')
  const auth = { Authorization: `Bearer ${tok}` }
  const multi = hub.images['library/multi:1']
  if (!multi?.platformManifests) throw new Error('missing multi')

  const list = await fetch(`${hub.registryUrl}/v2/library/multi/manifests/1`, { headers: { ...auth, Accept: ACCEPT_ALL } })
  t.equal(list.headers.get('content-type'), MT_DOCKER_LIST)
  t.equal(list.headers.get('docker-content-digest'), multi.digest)
  // distribution: list by tag without list in Accept → linux/amd64 manifest
  const fallback = await fetch(`${hub.registryUrl}/v2/library/multi/manifests/1`, { headers: { ...auth, Accept: MT_DOCKER_MANIFEST } })
  t.equal(fallback.status, 200)
  t.equal(fallback.headers.get('content-type'), MT_DOCKER_MANIFEST)
  t.equal(fallback.headers.get('docker-content-digest'), multi.platformManifests.find((p) => p.platform.architecture === 'amd64')?.digest)

  const bb = await fetch(`${hub.registryUrl}/v2/library/busybox/manifests/1.36`, { headers: { ...auth, Accept: MT_DOCKER_MANIFEST } })
  t.equal(bb.headers.get('content-type'), MT_DOCKER_MANIFEST)
  t.equal(bb.headers.get('docker-content-digest'), hub.images['library/busybox:1.36']?.digest)

  const nope = await fetch(`${hub.registryUrl}/v2/library/nope/manifests/1`, { headers: { ...auth, Accept: ACCEPT_ALL } })
  t.equal(nope.status, 404)
  t.match(await nope.json(), { errors: [{ code: 'NAME_UNKNOWN' }] })
  const unk = await fetch(`${hub.registryUrl}/v2/library/busybox/manifests/nosuch`, { headers: { ...auth, Accept: ACCEPT_ALL } })
  t.match(await unk.json(), { errors: [{ code: 'MANIFEST_UNKNOWN' }] })

  const tags = await fetch(`${hub.registryUrl}/v2/library/multi/tags/list`, { headers: auth })
  t.same(await tags.json(), { name: 'library/multi', tags: ['1'] })
  const refs = await fetch(`${hub.registryUrl}/v2/library/multi/referrers/${multi.digest}`, { headers: auth })
  t.equal(refs.headers.get('content-type'), MT_OCI_INDEX)
  t.match(await refs.json(), { schemaVersion: 2, manifests: [] })

  // tag moves
  const layer = hub.putBlob(seededBytes('moved', 3000))
  const cfg = hub.putBlob(Buffer.from('{}'))
  const moved = hub.putManifest('library/busybox', '1.36', MT_DOCKER_MANIFEST, {
    schemaVersion: 2,
    mediaType: MT_DOCKER_MANIFEST,
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: cfg, size: 2 },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 3000 }],
  })
  const bb2 = await fetch(`${hub.registryUrl}/v2/library/busybox/manifests/1.36`, { method: 'HEAD', headers: { ...auth, Accept: MT_DOCKER_MANIFEST } })
  t.equal(bb2.headers.get('docker-content-digest'), moved)
  t.same(hub.images['library/busybox:1.36']?.blobs, [cfg, layer])
  t.equal(sha256Digest(await pullBlob(t, hub, 'library/busybox', layer, tok)), layer)
})

t.test('relative redirect (multi-hop) and faults', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 4096, relativeRedirect: true })
  t.teardown(() => hub.close())
  const img = hub.images['library/big:1']
  const layer = img?.blobs[1]
  if (!layer) throw new Error('missing big')
  const tok = await getToken(hub, 'repository:library/big:pull')
  const first = await fetch(`${hub.registryUrl}/v2/library/big/blobs/${layer}`, { redirect: 'manual', headers: { Authorization: `Bearer ${tok}` } })
  t.equal(first.status, 307)
  t.match(first.headers.get('location'), /^\/_redirect\/[a-f0-9]{64}\?sig=/)
  const bytes = await pullBlob(t, hub, 'library/big', layer, tok)
  t.equal(bytes.length, 4096)
  t.equal(sha256Digest(bytes), layer)
  t.equal(hub.count('registry', 'GET', '/_redirect/'), 1)

  const cdn = `${hub.cdnUrl}/blobs/${layer.slice(7)}`
  hub.faults = { cdnCorrupt: true }
  t.not(sha256Digest(Buffer.from(await (await fetch(cdn)).arrayBuffer())), layer, 'corrupt')
  hub.faults = { cdnTruncate: 100 }
  await t.rejects((await fetch(cdn)).arrayBuffer(), 'truncated body errors')
  hub.faults = { cdnStallAfter: 100 }
  const ac = new AbortController()
  const stalled = await fetch(cdn, { signal: ac.signal })
  t.equal(stalled.headers.get('content-length'), '4096')
  setTimeout(() => ac.abort(), 100)
  await t.rejects(stalled.arrayBuffer(), 'stalled body aborted')
  hub.faults = { registryStatus: 429 }
  const r429 = await fetch(`${hub.registryUrl}/v2/`)
  t.equal(r429.status, 429)
  t.equal(r429.headers.get('retry-after'), '7')
  t.match(await r429.json(), { errors: [{ code: 'TOOMANYREQUESTS' }] })
  hub.faults = { tokenDown: true }
  t.equal((await fetch(`${hub.tokenUrl}?service=fake-hub`)).status, 503)
  hub.faults = {}
})
