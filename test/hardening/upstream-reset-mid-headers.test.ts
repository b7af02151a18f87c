// The registry or the CDN resets the connection in the middle of its header
// block: a 502 registry error (no half response), nothing cached or left
// open, and the next pull succeeds.
import t from 'tap'
import { faultScenario, isRegistryError } from './fixtures/harness.js'

for (const cache of [false, true]) {
  for (const role of ['registry', 'cdn'] as const) {
    t.test(`${role} resets mid-headers (${cache ? 'cache' : 'no cache'})`, async (t) => {
      await faultScenario(t, {
        cache,
        inject: (h) => h.reg.fault(role, { kind: 'reset-headers' }),
        expect: (o) => {
          t.equal(o.status, 502)
          t.ok(isRegistryError(o), 'a registry error body')
        },
      })
    })
  }
}
