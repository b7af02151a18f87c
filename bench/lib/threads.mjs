// Per-thread CPU of a Node process from /proc/<pid>/task, by role.
//
// Roles (Node 20 names no thread; bench/lib/thread-names.cjs, preloaded,
// names those that exist before JavaScript runs):
//   main          the thread whose id is the pid
//   v8-platform   named by the preload: V8's platform workers (concurrent
//                 and parallel GC, background compilation), its delayed-task
//                 runner and the inspector's signal thread
//   worker        started later and idle in epoll_wait: a worker_thread runs
//                 an event loop of its own (crproxy's hash workers)
//   threadpool    started later and idle on a futex: the libuv thread pool
//                 (file system work: the cache's writes, opens, renames)
import { readdirSync, readFileSync } from 'node:fs'

const read = (path) => {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return null
  }
}

/** Map tid → CPU seconds (utime + stime) for every thread of pid. */
export function threadCpu(pid) {
  const out = new Map()
  let tids
  try {
    tids = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tids) {
    const s = read(`/proc/${pid}/task/${tid}/stat`)
    if (!s) continue
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
    out.set(tid, (Number(f[11]) + Number(f[12])) / 100)
  }
  return out
}

/**
 * The role of one thread (see the top of this file). Its wait channel is
 * sampled a few times: a worker thread also waits on futexes now and then
 * (postMessage), a pool thread never sits in epoll_wait.
 */
export async function threadRole(pid, tid) {
  if (String(pid) === tid) return 'main'
  const comm = read(`/proc/${pid}/task/${tid}/comm`)
  if (comm === 'v8-platform') return 'v8-platform'
  let futex = false
  for (let i = 0; i < 8; i++) {
    const wchan = read(`/proc/${pid}/task/${tid}/wchan`) ?? ''
    if (wchan.includes('epoll')) return 'worker'
    if (wchan.includes('futex')) futex = true
    await new Promise((r) => setTimeout(r, 10))
  }
  return futex ? 'threadpool' : 'other'
}

/**
 * CPU seconds by role spent between two threadCpu() snapshots of pid:
 * { byRole: { role: s }, threads: [{ tid, role, s }] }.
 */
export async function cpuByRole(pid, before, after) {
  const byRole = {}
  const threads = []
  for (const [tid, t] of after) {
    const d = Math.round((t - (before.get(tid) ?? 0)) * 100) / 100 // clock ticks: 10 ms
    if (d <= 0) continue
    const role = await threadRole(pid, tid)
    byRole[role] = Math.round(((byRole[role] ?? 0) + d) * 100) / 100
    threads.push({ tid: Number(tid), role, s: d })
  }
  return { byRole, threads }
}

export const ROLES = ['main', 'worker', 'threadpool', 'v8-platform', 'other']
export const ROLE_LABELS = {
  main: 'main thread',
  worker: 'worker threads (SHA-256)',
  threadpool: 'libuv thread pool (file system)',
  'v8-platform': 'V8 platform (GC, compiler)',
  other: 'other',
}
