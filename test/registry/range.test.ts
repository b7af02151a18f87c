import t from 'tap'
import { formatRange, parseContentRange, parseRange, parseRangeSpec, type RangeSpec, resolveRange } from '../../lib/registry/range.js'

t.test('ranges as protocol.md §13 pins them', async (t) => {
  t.same(parseRange('bytes=500-1499', 2048), { start: 500, end: 1499 })
  t.same(parseRange('bytes=500-', 2048), { start: 500, end: 2047 })
  t.same(parseRange('bytes=-500', 2048), { start: 1548, end: 2047 })
  t.same(parseRange('bytes=-5000', 2048), { start: 0, end: 2047 }, 'suffix longer than the blob')
  t.same(parseRange('bytes=2000-5000', 2048), { start: 2000, end: 2047 }, 'clamped to the end')
  t.equal(parseRange('bytes=500-0', 2048), 'unsatisfiable')
  t.equal(parseRange('bytes=2048-', 2048), 'unsatisfiable')
  t.equal(parseRange('bytes=-0', 2048), 'unsatisfiable')
  t.equal(parseRange('bytes=99999999999999999999-', 2048), 'unsatisfiable')
})

t.test('malformed or multi-range headers are ignored (whole blob)', async (t) => {
  t.equal(parseRange(undefined, 10), null)
  t.equal(parseRange('bytes=0-1,5-6', 10), null)
  t.equal(parseRange('items=0-1', 10), null)
  t.equal(parseRange('bytes=-', 10), null)
  t.equal(parseRange('bytes=a-b', 10), null)
})

t.test('a range as asked, before the length is known', async (t) => {
  t.same(parseRangeSpec('bytes=-100'), { suffix: 100 })
  t.same(parseRangeSpec('bytes=5-'), { start: 5 })
  t.same(parseRangeSpec(' BYTES = 5 - 9 '), { start: 5, end: 9 })
  t.equal(parseRangeSpec('bytes=-0'), 'unsatisfiable')
  t.equal(parseRangeSpec('bytes=9-5'), 'unsatisfiable')
  t.equal(parseRangeSpec(`bytes=${'9'.repeat(16)}-`), 'unsatisfiable')
  t.equal(parseRangeSpec('bytes=0-1,5-6'), null)
  t.equal(parseRangeSpec(undefined), null)
  t.equal(formatRange({ suffix: 100 }), 'bytes=-100')
  t.equal(formatRange({ start: 5 }), 'bytes=5-')
  t.equal(formatRange(parseRangeSpec(' bytes = 5 - 9') as RangeSpec), 'bytes=5-9', 'written plainly')
  t.same(resolveRange({ suffix: 100 }, 50), { start: 0, end: 49 })
  t.equal(resolveRange({ suffix: 1 }, 0), 'unsatisfiable')
  t.same(resolveRange({ start: 10, end: 99 }, 50), { start: 10, end: 49 })
})

t.test('Content-Range of a 206', async (t) => {
  t.same(parseContentRange('bytes 0-99/1000'), { start: 0, end: 99, size: 1000 })
  t.equal(parseContentRange('bytes 0-99/*'), null, 'a length must be given')
  t.equal(parseContentRange('bytes 99-0/1000'), null)
  t.equal(parseContentRange('bytes 0-1000/1000'), null, 'past the end')
  t.equal(parseContentRange('bytes */1000'), null)
  t.equal(parseContentRange(undefined), null)
})
