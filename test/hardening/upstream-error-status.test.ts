// 429, 500 and 503 from the registry or the CDN pass through as registry
// errors with Retry-After kept; nothing is cached; the next pull succeeds.
import t from 'tap'
import { faultScenario, isRegistryError } from './fixtures/harness.js'

for (const status of [429, 500, 503]) {
  for (const role of ['registry', 'cdn'] as const) {
    t.test(`${role} answers ${status}`, async (t) => {
      await faultScenario(t, {
        cache: true,
        inject: (h) => h.reg.fault(role, { kind: 'status', status, retryAfter: '11' }),
        expect: (o) => {
          t.equal(o.status, status, 'the status passes through')
          t.ok(isRegistryError(o), 'with a registry error body')
          if (status !== 500) t.equal(o.headers['retry-after'], '11', 'Retry-After kept')
        },
      })
    })
  }
}

t.test('a manifest request answered 429 passes through too', async (t) => {
  await faultScenario(t, {
    inject: (h) => {
      h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2 })
      h.reg.fault('registry', { kind: 'status', status: 429, retryAfter: '3' })
    },
    path: (h) => `/v2/${h.repo}/manifests/v1`,
    expect: (o) => {
      t.equal(o.status, 429)
      t.equal(o.headers['retry-after'], '3')
    },
  })
})
