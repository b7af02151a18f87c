// The backoff of a chain member out of rotation: doubling per failure in a
// row, capped, never shorter than a Retry-After, reset by a recovery; and
// what /metrics and the log say about it.
import t from 'tap'
import { createLogger } from '../../lib/log.js'
import { Metrics } from '../../lib/metrics.js'
import { HealthBoard } from '../../lib/upstream/health.js'

t.test('exponential, capped, Retry-After wins, reset on recovery', async (t) => {
  const lines: string[] = []
  const metrics = new Metrics()
  const board = new HealthBoard({ initial: 100, max: 1000 }, createLogger({ format: 'json', write: (l) => lines.push(l) }), metrics)
  const h = board.of('http://a.test')
  t.equal(h.healthy, true)
  const now = 1_000_000
  const steps: number[] = []
  for (let i = 0; i < 6; i++) {
    board.markFailed(h, 'connect: refused', 0, now)
    steps.push(h.retryAt - now)
  }
  t.same(steps, [100, 200, 400, 800, 1000, 1000], 'doubles, then stays at the cap')
  t.equal(h.healthy, false)
  t.equal(h.dueForProbe(now + 999), false, 'not probed during its backoff')
  t.equal(h.dueForProbe(now + 1000), true, 'probed once it is over')
  t.equal(lines.filter((l) => l.includes('upstream out of rotation')).length, 1, 'one warning when it leaves, not one per failure')

  board.markHealthy(h, 'probe')
  t.equal(h.healthy, true)
  t.equal(h.failures, 0)
  t.ok(lines.some((l) => l.includes('upstream back in rotation') && l.includes('"by":"probe"')))
  board.markFailed(h, 'HTTP 429', 30_000, now)
  t.equal(h.retryAt - now, 30_000, 'a Retry-After longer than the step is honoured')
  board.markHealthy(h, 'probe')
  board.markFailed(h, 'HTTP 503', 50, now)
  t.equal(h.retryAt - now, 100, 'a shorter one does not shorten the step')

  const m = metrics.render()
  t.match(m, /crproxy_upstream_healthy\{member="http:\/\/a\.test"\} 0/)
  t.match(m, /crproxy_upstream_health_changes_total\{member="http:\/\/a\.test",to="unhealthy"\} 3/)
  t.match(m, /crproxy_upstream_health_changes_total\{member="http:\/\/a\.test",to="healthy"\} 2/)
})
