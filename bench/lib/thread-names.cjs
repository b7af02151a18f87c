// Preloaded into crproxy by the bench (node --require): names the threads
// that exist before any JavaScript runs, so that per-thread CPU can be told
// apart later (threads.mjs). Node 20 names none of its threads: all are
// "node". At this point they are V8's platform workers (GC and compiler
// tasks), its delayed-task runner and the inspector's signal thread; the
// threads started later (worker_threads, the libuv thread pool) keep "node".
'use strict'
const fs = require('node:fs')
const { isMainThread } = require('node:worker_threads')

if (isMainThread) {
  try {
    const self = String(process.pid)
    for (const tid of fs.readdirSync('/proc/self/task')) {
      if (tid !== self) fs.writeFileSync(`/proc/self/task/${tid}/comm`, 'v8-platform')
    }
  } catch {
    // not Linux: the bench reports threads unclassified
  }
}
