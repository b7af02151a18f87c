// Before `npm test`: one line naming the tools the real-client e2e tests need
// that this machine lacks, and the Debian package of each, so a run that
// skips them says why up front (tap's summary only counts skips). Under CI
// (CI set) a missing tool fails the run here, before the suite starts.
// The list is test/fixtures/real/tools.json, which the tests read too.
import { accessSync, constants, readFileSync } from 'node:fs'
import { delimiter, isAbsolute, join } from 'node:path'

const tools = JSON.parse(readFileSync(new URL('../test/fixtures/real/tools.json', import.meta.url), 'utf8'))
const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
for (const d of ['/usr/sbin', '/sbin', '/usr/local/sbin']) if (!dirs.includes(d)) dirs.push(d)
const executable = (p) => {
  try {
    accessSync(p, constants.X_OK)
    return true
  } catch {
    return false
  }
}
const missing = Object.entries(tools).filter(([name]) => (isAbsolute(name) ? !executable(name) : !dirs.some((d) => executable(join(d, name)))))
if (missing.length) {
  const list = missing.map(([name, pkg]) => `${name} (${pkg})`).join(', ')
  const what = process.env.CI ? 'CI must run every e2e test' : 'the real-client e2e tests that need them will be skipped'
  process.stderr.write(`e2e prerequisites missing: ${list}; ${what}; install with: sudo .ci/install.sh\n`)
  if (process.env.CI) process.exit(1)
}
