import t from 'tap'
import { parseSize } from '../../lib/config.js'

t.test('units', async (t) => {
  const cases: Array<[string | number, number]> = [
    ['1048576', 1048576],
    ['0', 0],
    ['500MiB', 500 * 1024 ** 2],
    ['50GiB', 50 * 1024 ** 3],
    ['2TB', 2e12],
    ['1.5G', 1.5 * 1024 ** 3],
    ['1.5g', 1.5 * 1024 ** 3],
    ['10kb', 10_000],
    ['10 KiB', 10_240],
    ['3k', 3072],
    ['1t', 1024 ** 4],
    ['100b', 100],
    [' 7 MB ', 7e6],
    ['.5K', 512],
    [4096, 4096],
  ]
  for (const [input, bytes] of cases) t.equal(parseSize(input), bytes, JSON.stringify(input))
})

t.test('junk', async (t) => {
  for (const junk of ['', 'abc', '10 XB', '-5', '1e9', '5MiBs', 'MiB', '1..5G', '1,5G'])
    t.throws(() => parseSize(junk), /invalid size/, JSON.stringify(junk))
  t.throws(() => parseSize(-1), /invalid size/)
  t.throws(() => parseSize(Number.NaN), /invalid size/)
  t.throws(() => parseSize('99999999999TiB'), /too large/)
})
