// A quick measurement, not a test: serving one cached blob over HTTP to curl,
// with and without verify-on-serve, hashing inline or in a worker.
//
//   node --import @tapjs/typescript/import test/cache/bench-serve.ts [MiB=256] [runs=5]
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BlobReadStream } from '../../lib/cache/read-stream.js'
import { ownHandle } from '../../lib/cache/shared-handle.js'
import { HashWorkerPool, inlineHasher, type Hasher } from '../../lib/stages/hash-worker.js'
import { VerifyDigest } from '../../lib/stages/verify-digest.js'

const mib = Number(process.argv[2] ?? 256)
const runs = Number(process.argv[3] ?? 5)
const dir = mkdtempSync(join(tmpdir(), 'crproxy-bench-'))
const path = join(dir, 'blob')
const bytes = randomBytes(mib * 1024 * 1024)
const hex = createHash('sha256').update(bytes).digest('hex')
writeFileSync(path, bytes)
const size = bytes.length

const shared = new HashWorkerPool({ sharedMemory: true })
const copying = new HashWorkerPool({ sharedMemory: false })

function reader(hasher: (() => Hasher) | null, chunkSize = 1024 * 1024): Readable {
  return new BlobReadStream({
    open: async () => ({ handle: ownHandle(await open(path, 'r')), size }),
    verify: hasher ? { hex, hasher } : undefined,
    chunkSize,
  })
}

const modes: Record<string, () => Readable[]> = {
  'fs.createReadStream 64 KiB, verify off': () => [createReadStream(path)],
  'fs.createReadStream 64 KiB + VerifyDigest (inline)': () => [
    createReadStream(path),
    new VerifyDigest({ digest: `sha256:${hex}`, size }),
  ],
  'reader 1 MiB, verify off': () => [reader(null)],
  'reader 1 MiB, verify inline': () => [reader(() => inlineHasher())],
  'reader 1 MiB, verify worker (copy + transfer)': () => [reader(() => copying.create())],
  'reader 1 MiB, verify worker (SharedArrayBuffer)': () => [reader(() => shared.create())],
  'reader 256 KiB, verify worker (SharedArrayBuffer)': () => [reader(() => shared.create(), 256 * 1024)],
  'reader 4 MiB, verify worker (SharedArrayBuffer)': () => [reader(() => shared.create(), 4 * 1024 * 1024)],
}
const names = Object.keys(modes)

const server: Server = createServer((req, res) => {
  const make = modes[decodeURIComponent(req.url!.slice(1))]
  if (!make) return void res.writeHead(404).end()
  res.writeHead(200, { 'content-length': String(size) })
  const stages = make()
  pipeline([...stages, res]).catch((err: Error) => {
    console.error('serve failed:', decodeURIComponent(req.url!), err.message)
  })
})
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
const { port } = server.address() as { port: number }

// Async so the server (same process) keeps serving while curl runs.
function curlAsync(name: string): Promise<[number, number]> {
  const elu0 = performance.eventLoopUtilization()
  return new Promise((resolve, reject) => {
    execFile(
      'curl',
      ['-s', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', `http://127.0.0.1:${port}/${encodeURIComponent(name)}`],
      (err, stdout) => {
        if (err) return reject(err)
        const [speed, got] = stdout.trim().split(' ').map(Number)
        if (got !== size) return reject(new Error(`${name}: got ${got} of ${size} bytes`))
        resolve([speed! / 1e6, performance.eventLoopUtilization(elu0).utilization])
      },
    )
  })
}

const results: Record<string, Array<[number, number]>> = Object.fromEntries(names.map((n) => [n, []]))
for (const n of names) await curlAsync(n) // warm-up (page cache, workers)
for (let i = 0; i < runs; i++) for (const n of names) results[n]!.push(await curlAsync(n))

console.log(`${mib} MiB blob, ${runs} runs each: MB/s median / best, main-thread busy % median`)
for (const n of names) {
  const xs = results[n]!.map((r) => r[0]).sort((a, b) => a - b)
  const elu = results[n]!.map((r) => r[1]).sort((a, b) => a - b)
  const mid = Math.floor(xs.length / 2)
  console.log(
    `  ${n.padEnd(52)} ${xs[mid]!.toFixed(0).padStart(6)} / ${xs[xs.length - 1]!.toFixed(0).padStart(5)}   ${(elu[mid]! * 100).toFixed(0).padStart(3)}%`,
  )
}
server.close()
await shared.close()
await copying.close()
rmSync(dir, { recursive: true, force: true })
