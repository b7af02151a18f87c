// Security: a private repository's manifest cached for alice is served only
// to credentials the upstream accepted for that repository; an anonymous
// client, a forged token or another repository gets the upstream's refusal
// and none of the manifest's bytes.
import t from 'tap'
import { PullClient, request } from '../fixtures/proxy.js'
import { ACCEPT_ALL, manifestRequests, setup } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('private manifest cached by alice is refused to an anonymous client', async (t) => {
  const { hub, proxy } = await setup(t, { staleIfError: 60_000 })
  const img = hub.images['private/secret:1']!
  const byDigest = `/v2/private/secret/manifests/${img.digest}`
  const byTag = '/v2/private/secret/manifests/1'
  const alice = new PullClient(proxy.url, { basic: 'alice:wonderland' })
  t.equal(sha256((await alice.get(byTag, { accept: ACCEPT_ALL })).body), img.digest)
  t.equal(sha256((await alice.get(byDigest, { accept: ACCEPT_ALL })).body), img.digest)

  const secret = img.body.subarray(0, 40)
  const anon = new PullClient(proxy.url)
  for (const path of [byDigest, byTag]) {
    const refused = await anon.get(path, { accept: ACCEPT_ALL })
    t.equal(refused.status, 401, `anonymous: ${path}`)
    t.notOk(refused.body.includes(secret), 'no manifest bytes')
    t.match(String(refused.headers['www-authenticate']), /realm="http:\/\/127\.0\.0\.1:\d+\/token\//, 'challenge rewritten')
    const head = await anon.get(path, { accept: ACCEPT_ALL }, 'HEAD')
    t.equal(head.status, 401, `anonymous HEAD: ${path}`)
    t.notOk(head.headers['docker-content-digest'])
    const forged = await request(proxy.url, path, { headers: { accept: ACCEPT_ALL, authorization: 'Bearer forged' } })
    t.equal(forged.status, 401, `forged token: ${path}`)
  }
  const viaPublic = await anon.get(`/v2/library/busybox/manifests/${img.digest}`, { accept: ACCEPT_ALL })
  t.equal(viaPublic.status, 404, 'not served through another repository')

  // Not even as a stale answer while the upstream is down.
  hub.faults.registryStatus = 503
  const offline = await request(proxy.url, byTag, { headers: { accept: ACCEPT_ALL } })
  t.equal(offline.status, 503)
  t.notOk(offline.body.includes(secret))
  hub.faults.registryStatus = undefined

  hub.reset()
  const again = await alice.get(byDigest, { accept: ACCEPT_ALL })
  t.equal(sha256(again.body), img.digest)
  t.equal(hub.requests.length, 0, 'alice: from the cache without asking')
  t.equal(manifestRequests(hub, 'GET'), 0)
})
