// The real CLI's bad starts, part two: a --cache-dir it cannot use. (Split
// from cli-bad-starts.test.ts so that neither file runs near tap's per-file
// timeout on a loaded machine.)
import { chmodSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from '../fixtures/real/proc.js'
import { asNobody, oneCleanLine, run, startWith } from './fixtures/run-cli.js'

t.test('an unusable --cache-dir: exit 2 with one line naming the path and the reason', async (t) => {
  const dir = t.testdir({ 'a-file': 'x', locked: {} })
  chmodSync(join(dir, 'locked'), 0o000) // empty: t.testdir() still removes it
  const file = join(dir, 'a-file')
  oneCleanLine(t, run(['--cache-dir', file]), new RegExp(`--cache-dir ${file}: cannot use: not a directory \\(ENOTDIR\\)`))
  oneCleanLine(t, run(['--cache-dir', join(file, 'sub')]), /--cache-dir .*a-file.*not a directory \(ENOTDIR\)/)
  oneCleanLine(t, run(['--cache-dir', '/proc/nope']), /--cache-dir \/proc\/nope: cannot create: no such file or directory \(ENOENT\)/)
  oneCleanLine(t, run(['--cache-dir', '/proc/nope/deeper']), /--cache-dir \/proc\/nope: cannot create/)
  oneCleanLine(t, run(['--cache-dir', join(dir, 'locked')], {}, asNobody), /locked: cannot read: permission denied \(EACCES\)/)
  oneCleanLine(t, run(['--cache-dir', join(dir, 'locked', 'sub')], {}, asNobody), /locked.sub: cannot use: permission denied \(EACCES\)/)
  // EPERM: creating a directory inside /sys (a kernel filesystem) is not permitted, even to root.
  oneCleanLine(t, run(['--cache-dir', '/sys/crproxy-cache']), /--cache-dir \/sys\/crproxy-cache: cannot create: .*\((EPERM|EACCES)\)/)
})

t.test('a --cache-dir that exists but cannot be written still starts (serve what is cached)', async (t) => {
  const dir = t.testdir({ ro: {} })
  chmodSync(join(dir, 'ro'), 0o555)
  const port = await freePort()
  const p = await startWith(t, ['--listen', `127.0.0.1:${port}`, '--cache-dir', join(dir, 'ro')], port, {}, asNobody)
  t.match(p.log(), /cache dir not writable: serving what is cached/)
})
