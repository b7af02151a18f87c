import t from 'tap'
import { parseRange } from '../../lib/registry/range.js'

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
