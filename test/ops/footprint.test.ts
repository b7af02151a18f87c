// Start-up to healthy and idle memory, measured on the real CLI and printed
// (the README quotes them). Bounds are loose: they catch a regression by an
// order of magnitude, not noise.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { binPath } from '../fixtures/cli-proxy.js'
import { request } from '../fixtures/proxy.js'
import { freePort } from '../fixtures/real/proc.js'

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : 0
}

function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

async function measure(args: string[], settleMs = 1000) {
  const port = await freePort()
  const started = process.hrtime.bigint()
  const proc = spawn(process.execPath, [binPath, '--listen', `127.0.0.1:${port}`, ...args], { stdio: 'ignore', env: { PATH: process.env['PATH'] } })
  let healthyMs = NaN
  for (let i = 0; i < 1000; i++) {
    try {
      if ((await request(`http://127.0.0.1:${port}`, '/healthz')).status === 200) {
        healthyMs = Number(process.hrtime.bigint() - started) / 1e6
        break
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 5))
  }
  await new Promise((r) => setTimeout(r, settleMs))
  const pids = [proc.pid!, ...children(proc.pid!)]
  const rss = pids.reduce((sum, p) => sum + rssKiB(p), 0) / 1024
  await new Promise<void>((resolve) => {
    proc.once('exit', () => resolve())
    proc.kill('SIGTERM')
  })
  return { healthyMs, rssMiB: rss, processes: pids.length }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

t.test('start-up to healthy and idle RSS', async (t) => {
  const dir = t.testdir()
  const rows: Array<[string, string[], number]> = [
    ['single process', [], 3],
    ['with --cache-dir', ['--cache-dir', join(dir, 'cache')], 3],
    ['--workers 2', ['--workers', '2'], 2],
  ]
  for (const [name, args, runs] of rows) {
    const results = []
    for (let i = 0; i < runs; i++) results.push(await measure(args, 500))
    const healthy = median(results.map((r) => r.healthyMs))
    const rss = median(results.map((r) => r.rssMiB))
    t.comment(`${name}: healthy after ${healthy.toFixed(0)} ms, idle RSS ${rss.toFixed(1)} MiB over ${results[0]!.processes} process(es) (median of ${runs}, node ${process.version})`)
    t.ok(healthy < 5000, `${name}: healthy within 5 s`)
    t.ok(rss < 200 * results[0]!.processes, `${name}: under 200 MiB per process`)
  }
})
