// Redirects never reach an internal service (SSRF): a Location pointing at a
// loopback address other than the upstream's, at [::1], at link-local cloud
// metadata or at a private network is refused with 502 before any packet is
// sent, whether it comes from the registry or from its CDN, for blobs and
// manifests alike. The upstream's own CDN (another port on its host, named by
// --redirect-allow) keeps working, and --redirect-allow opens a named
// internal host. The client is told the egress policy refused the target;
// what the target's name resolved to is in the log only.
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createLogger } from '../../lib/log.js'
import { startCanary } from './fixtures/canary.js'
import { isRegistryError, startHarness } from './fixtures/harness.js'

t.test('Locations at internal addresses are refused, the canary never hears of it', async (t) => {
  const v4 = await startCanary(t, '127.0.0.2')
  const v6 = await startCanary(t, '::1')
  const h = await startHarness(t, { cache: true })
  h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2 })
  const hex = h.digest.slice(7)
  const targets = [
    ...(v4 ? [`${v4.origin}/blobs/${hex}`, `http://2130706434:${v4.port}/blobs/${hex}`, `http://[::ffff:127.0.0.2]:${v4.port}/x`] : []),
    ...(v6 ? [`${v6.origin}/blobs/${hex}`, `http://localhost:${v6.port}/x`] : []),
    'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
    'http://10.11.12.13/internal',
    'http://[fd00::1]/internal',
    'http://0.0.0.0:80/',
  ]
  for (const location of targets) {
    for (const [role, path] of [
      ['registry', h.blobPath],
      ['cdn', h.blobPath],
      ['registry', `/v2/${h.repo}/manifests/v1`],
    ] as const) {
      h.reg.clearFaults()
      h.reg.fault(role, { kind: 'redirect', location })
      const started = Date.now()
      const o = await h.get(path)
      t.equal(o.status, 502, `${role} → ${location} (${path.split('/')[3]}): 502`)
      t.ok(isRegistryError(o), 'a registry error body')
      t.notMatch(o.body.toString(), /SECRET/, 'nothing of the target in the answer')
      t.ok(Date.now() - started < 1500, 'refused without waiting for a connect timeout')
    }
  }
  t.equal(v4?.connections ?? 0, 0, '127.0.0.2 was never connected to')
  t.equal(v6?.connections ?? 0, 0, '::1 was never connected to')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  await h.assertClean(t)
  await h.assertRecovers(t, 'the upstream’s own CDN, on another port of its host')
})

t.test('--redirect-allow opens a named internal host (and only that one)', async (t) => {
  // The canary serves the blob itself, standing for an internal S3 the operator allows.
  const bytes = randomBytes(256 * 1024)
  const v4 = await startCanary(t, '127.0.0.2', bytes)
  if (!v4) return t.plan(0, '127.0.0.2 is not available here')
  const h = await startHarness(t, { proxy: { redirectAllow: ['127.0.0.2'] } })
  const digest = h.reg.addBlob(bytes)
  h.reg.fault('registry', { kind: 'redirect', location: `${v4.origin}/blobs/x` })
  const o = await h.get(`/v2/${h.repo}/blobs/${digest}`)
  t.equal(o.status, 200, 'followed to the allowed host')
  t.ok(o.complete && o.body.equals(bytes), 'verified bytes')
  t.equal(v4.connections, 1)
  h.reg.clearFaults()
  h.reg.fault('registry', { kind: 'redirect', location: 'http://127.0.0.3:9/x' })
  t.equal((await h.get(`/v2/${h.repo}/blobs/${digest}`)).status, 502, 'another internal host stays closed')
  await h.assertClean(t)
})

t.test('the client hears of the egress policy, not of what internal names resolve to', async (t) => {
  const lines: string[] = []
  const h = await startHarness(t, { proxy: { log: createLogger({ level: 'warn', write: (l) => lines.push(l) }) } })
  h.reg.fault('registry', { kind: 'redirect', location: 'http://localhost:9/x' })
  const o = await h.get(h.blobPath)
  t.equal(o.status, 502)
  t.ok(isRegistryError(o), 'a registry error body')
  const body = o.body.toString()
  t.match(JSON.parse(body).errors[0].message, /refused by the egress policy/, 'says who refused')
  t.notMatch(body, /127\.0\.0\.1|::1|public address|localhost/, 'names neither the target nor what it resolved to')
  t.match(lines.join('\n'), /refused to connect to localhost:9: (127\.0\.0\.1|::1) is not a public address/, 'the log keeps the detail')
  await h.assertClean(t)
})
