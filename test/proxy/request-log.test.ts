// The request log: one line per request at info, except a healthy /healthz,
// which health checks send every few seconds (logged at debug only).
import t, { type Test } from 'tap'
import { createLogger } from '../../lib/log.js'
import { request, startTestProxy } from '../fixtures/proxy.js'

async function logged(t: Test, level: 'info' | 'debug'): Promise<string[]> {
  const lines: string[] = []
  const proxy = await startTestProxy(t, {
    registryMap: { default: 'http://127.0.0.1:9' },
    log: createLogger({ level, format: 'json', write: (l) => lines.push(l) }),
  })
  t.equal((await request(proxy.url, '/healthz')).status, 200)
  t.equal((await request(proxy.url, '/v1/_ping')).status, 404)
  // The line is written when the response closes.
  for (let i = 0; i < 100 && lines.filter((l) => l.includes('"msg":"request"')).length < (level === 'debug' ? 2 : 1); i++) {
    await new Promise((r) => setTimeout(r, 10))
  }
  return lines.filter((l) => l.includes('"msg":"request"'))
}

t.test('at info: a healthy /healthz is not logged, other requests are', async (t) => {
  const lines = await logged(t, 'info')
  t.equal(lines.filter((l) => l.includes('"path":"/healthz"')).length, 0, 'no /healthz line')
  t.equal(lines.filter((l) => l.includes('"path":"/v1/_ping"') && l.includes('"level":"info"')).length, 1, 'the 404 is logged at info')
})

t.test('at debug: /healthz is there too', async (t) => {
  const lines = await logged(t, 'debug')
  t.equal(lines.filter((l) => l.includes('"path":"/healthz"') && l.includes('"level":"debug"')).length, 1)
})
