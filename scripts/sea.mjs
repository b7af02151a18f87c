#!/usr/bin/env node
// `make sea`: a single-file executable of crproxy for this platform (Node
// SEA). Usage: node scripts/sea.mjs <out-dir> <name>
//
//   dist/ ──esbuild──▶ <out>/sea/crproxy.cjs   one CommonJS file (SEA runs only that)
//         ──node --experimental-sea-config──▶ sea-prep.blob
//         ──postject──▶ <out>/<name>-<os>-<arch>  a copy of this node binary with the blob
//
// esbuild and postject come from the npm registry through npx. The embedded
// registry map is written to a temp file at start and passed as
// CRPROXY_REGISTRY_MAP unless a map is given.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const outDir = resolve(process.argv[2] ?? 'release')
const name = process.argv[3] ?? 'crproxy'
const work = join(outDir, 'sea')
rmSync(work, { recursive: true, force: true })
mkdirSync(work, { recursive: true })

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: 'inherit', cwd: work, ...opts })

const entry = join(work, 'entry.mjs')
writeFileSync(
  entry,
  `import { writeFileSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import map from ${JSON.stringify(join(root, 'registrymap.json'))}
import { main } from ${JSON.stringify(join(root, 'dist/cli.js'))}

// A --workers child is started as <exe> <exe> <args> (cluster runs
// process.argv[1], which in an executable is the executable itself).
const args = process.argv.slice(2)
while (args[0] === process.execPath) args.shift()
const given = args.some((a) => /^--?registry-map(=|$)/.test(a))
if (!given && !process.env.CRPROXY_REGISTRY_MAP) {
  const file = join(tmpdir(), 'crproxy-registrymap-' + process.pid + '.json')
  writeFileSync(file, JSON.stringify(map), { mode: 0o600 })
  process.on('exit', () => { try { unlinkSync(file) } catch {} })
  process.env.CRPROXY_REGISTRY_MAP = file
}
main(args, {
  env: process.env,
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
}).then((code) => process.exit(code), (err) => {
  process.stderr.write('crproxy: ' + (err && err.message ? err.message : err) + '\\n')
  process.exit(1)
})
`,
)

const bundle = join(work, 'crproxy.cjs')
run('npx', [
  '--yes', 'esbuild@0.25', entry, '--bundle', '--platform=node', '--format=cjs', '--target=node20',
  `--outfile=${bundle}`, '--log-level=warning',
  // import.meta.url only names the embedded map's path, replaced above.
  '--define:import.meta.url=__crproxy_url',
  '--banner:js=var __crproxy_url = require("node:url").pathToFileURL(__filename).href;',
])

writeFileSync(
  join(work, 'sea-config.json'),
  JSON.stringify({ main: bundle, output: join(work, 'sea-prep.blob'), disableExperimentalSEAWarning: true }),
)
run(process.execPath, ['--experimental-sea-config', 'sea-config.json'])

const exe = join(outDir, `${name}-${process.platform}-${process.arch}`)
copyFileSync(process.execPath, exe)
chmodSync(exe, 0o755)
run('npx', [
  '--yes', 'postject@1.0.0-alpha.6', exe, 'NODE_SEA_BLOB', join(work, 'sea-prep.blob'),
  '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
])
rmSync(work, { recursive: true, force: true })
console.log(`sea: ${exe}`)
