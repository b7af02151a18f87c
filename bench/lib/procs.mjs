// Child processes for the benchmark: every daemon we start is tracked and
// killed on exit (normal end, error, Ctrl-C), readiness is polled over HTTP,
// and /proc gives memory and CPU figures.
import { spawn, execFile } from 'node:child_process'
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import http from 'node:http'

const live = new Set()

function killAll() {
  for (const d of live) {
    try {
      d.child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAll()
    process.exit(130)
  })
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

/** Runs a command to completion; resolves { stdout, stderr, ms }. */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    execFile(
      cmd,
      args,
      { maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? 600_000, env: opts.env ?? process.env, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6
        if (err) {
          err.message = `${cmd} ${args.slice(0, 6).join(' ')}…: ${err.message}\n${String(stderr).slice(-2000)}`
          reject(err)
        } else resolve({ stdout: String(stdout), stderr: String(stderr), ms })
      },
    )
  })
}

/**
 * Starts a long-running process, stdout+stderr appended to logPath.
 * Returns { pid, child, startedAt (hrtime ns), stop(graceMs) }.
 */
export function startDaemon(cmd, args, logPath, env = process.env) {
  const fd = openSync(logPath, 'a')
  let child
  const startedAt = process.hrtime.bigint()
  try {
    child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env })
  } finally {
    closeSync(fd)
  }
  let running = true
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      running = false
      resolve({ code, signal })
    })
    child.once('error', (err) => {
      running = false
      resolve({ code: null, signal: null, err })
    })
  })
  const d = {
    cmd,
    pid: child.pid,
    child,
    startedAt,
    logPath,
    exited,
    isRunning: () => running,
    async stop(graceMs = 5000) {
      if (running) {
        child.kill('SIGTERM')
        const t = setTimeout(() => running && child.kill('SIGKILL'), graceMs)
        await exited
        clearTimeout(t)
      }
      live.delete(d)
    },
  }
  void exited.then(() => live.delete(d))
  live.add(d)
  return d
}

/** One GET; resolves the status (0 on a connection error). Never rejects. */
export function httpStatus(url, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', () => resolve(0))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve(0))
  })
}

/** One GET; resolves the body as text (throws unless 200). */
export function httpText(url, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`GET ${url}: ${res.statusCode}`))))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timeout`)))
    req.on('error', reject)
  })
}

/** Polls url until it answers with an accepted status; returns ms since `since` (hrtime ns). */
export async function waitHttp(url, { daemon, timeoutMs = 20_000, intervalMs = 20, accept = (s) => s > 0, since } = {}) {
  const t0 = since ?? process.hrtime.bigint()
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (daemon && !daemon.isRunning()) {
      throw new Error(`${daemon.cmd} exited before ${url} answered (log: ${daemon.logPath})\n${tail(daemon.logPath)}`)
    }
    const s = await httpStatus(url, 1000)
    if (accept(s)) return Number(process.hrtime.bigint() - t0) / 1e6
    if (Date.now() > deadline) throw new Error(`${url} did not answer in ${timeoutMs} ms (log: ${daemon?.logPath ?? '-'})`)
    if (intervalMs > 0) await new Promise((r) => setTimeout(r, intervalMs))
  }
}

export function tail(path, lines = 15) {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

/** { hwm, rss } in bytes from /proc/<pid>/status, or null. */
export function memory(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') }
  } catch {
    return null
  }
}

/** Resets VmHWM to the current RSS (Linux ≥ 4.0: write 5 to clear_refs). */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

/** CPU seconds (user + system, all threads) of a process. */
export function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / 100 // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN
  }
}

/** The 1/5/15-minute load averages. */
export function loadavg() {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number)
  } catch {
    return []
  }
}

/** Samples VmRSS every intervalMs until stopped; resolves the maximum seen. */
export function sampleRss(pid, intervalMs = 50) {
  let max = 0
  const t = setInterval(() => {
    const m = memory(pid)
    if (m && m.rss > max) max = m.rss
  }, intervalMs)
  return () => {
    clearInterval(t)
    const m = memory(pid)
    if (m && m.rss > max) max = m.rss
    return max
  }
}
