// parseRateLimit: Docker Hub's RateLimit headers and Retry-After in both forms.
import t from 'tap'
import { parseRateLimit } from '../../lib/upstream/rate-limit.js'

t.test("Docker Hub's headers", async (t) => {
  t.same(parseRateLimit({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600' }), {
    limit: 100,
    remaining: 76,
    windowSeconds: 21600,
  })
  t.same(parseRateLimit({ 'ratelimit-remaining': '0; w=60' }), { remaining: 0, windowSeconds: 60 }, 'the window from remaining alone')
  t.same(parseRateLimit({ 'ratelimit-limit': '200' }), { limit: 200 }, 'no window')
})

t.test('Retry-After: seconds or an HTTP-date', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.same(parseRateLimit({ 'retry-after': '120' }, now), { retryAfterSeconds: 120 })
  t.same(parseRateLimit({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }, now), { retryAfterSeconds: 30 })
  t.same(parseRateLimit({ 'retry-after': 'Wed, 31 Dec 2025 23:00:00 GMT' }, now), { retryAfterSeconds: 0 }, 'a date past is now')
})

t.test('nothing usable: undefined', async (t) => {
  t.equal(parseRateLimit({}), undefined)
  t.equal(parseRateLimit({ 'content-type': 'text/plain' }), undefined)
  t.equal(parseRateLimit({ 'ratelimit-limit': 'lots', 'ratelimit-remaining': '-1', 'retry-after': 'soon' }), undefined)
  t.same(parseRateLimit({ 'retry-after': '2026' }), { retryAfterSeconds: 2026 }, 'a bare number is seconds, not a year')
  t.same(parseRateLimit({ 'ratelimit-limit': ['100;w=60', '5;w=1'] }), { limit: 100, windowSeconds: 60 }, 'the first of repeated headers')
})
