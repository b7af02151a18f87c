// parseRateLimit reads what registries send: Docker Hub's
// `ratelimit-limit: 100;w=21600`, the IETF draft's plain numbers, the
// X-RateLimit-* spelling, and Retry-After as seconds or an HTTP-date.
import t from 'tap'
import { parseRateLimit, parseRetryAfter } from '../../lib/upstream/rate-limit.js'

t.test('Docker Hub', async (t) => {
  t.same(parseRateLimit({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600' }), { limit: 100, remaining: 76, windowSeconds: 21600 })
  t.same(parseRateLimit({ 'ratelimit-limit': '200;w=21600', 'ratelimit-remaining': '0;w=21600', 'retry-after': '3600' }), {
    limit: 200,
    remaining: 0,
    windowSeconds: 21600,
    retryAfterSeconds: 3600,
  })
})

t.test('other spellings', async (t) => {
  t.same(parseRateLimit({ 'ratelimit-limit': '100', 'ratelimit-remaining': '5' }), { limit: 100, remaining: 5 })
  t.same(parseRateLimit({ 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '59' }), { limit: 60, remaining: 59 })
  t.same(parseRateLimit({ 'ratelimit-limit': '100, 100;w=60', 'ratelimit-remaining': '9' }), { limit: 100, remaining: 9 }, 'a list: its first item')
  t.same(parseRateLimit({ 'retry-after': '7' }), { retryAfterSeconds: 7 })
})

t.test('Retry-After as an HTTP-date', async (t) => {
  const now = Date.parse('Fri, 04 Dec 2026 12:00:00 GMT')
  t.equal(parseRetryAfter('Fri, 04 Dec 2026 12:01:30 GMT', now), 90)
  t.equal(parseRetryAfter('Fri, 04 Dec 2026 11:00:00 GMT', now), 0, 'a date past is now')
})

t.test('nothing, or nothing readable', async (t) => {
  t.equal(parseRateLimit({}), undefined)
  t.equal(parseRateLimit({ 'content-type': 'application/json' }), undefined)
  t.equal(parseRateLimit({ 'ratelimit-limit': 'lots', 'ratelimit-remaining': '-1', 'retry-after': 'soon' }), undefined)
  t.equal(parseRetryAfter('1e3'), undefined)
})

t.test('the window from remaining alone, repeated headers, a bare number', async (t) => {
  t.same(parseRateLimit({ 'ratelimit-remaining': '0; w=60' }), { remaining: 0, windowSeconds: 60 })
  t.same(parseRateLimit({ 'ratelimit-limit': ['100;w=60', '5;w=1'] }), { limit: 100, windowSeconds: 60 }, 'the first of repeated headers')
  t.same(parseRateLimit({ 'retry-after': '2026' }), { retryAfterSeconds: 2026 }, 'a bare number is seconds, not a year')
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.same(parseRateLimit({ 'retry-after': 'Thu, 01 Jan 2026 00:00:30 GMT' }, now), { retryAfterSeconds: 30 }, 'an HTTP-date against the given clock')
})
