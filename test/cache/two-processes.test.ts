// Two processes sharing one cache dir: the temp file's O_EXCL create is the
// lock across processes, so there is still exactly one writer, and a follower
// in the other process tails the growing file (streaming before the end).
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { asWriter, collect, fdCount, makeBlob, openCache, settle, upstreamBody, SOURCE } from './fixtures/helpers.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const childScript = fileURLToPath(new URL('./fixtures/claim-child.ts', import.meta.url))

/** How long a child may take to say the next thing: seconds on a loaded machine, never tap's whole file timeout. */
const CHILD_TIMEOUT = 60_000

interface Child {
  proc: ChildProcess
  /** The first message matching `pred`; rejects, naming what was seen, after CHILD_TIMEOUT or when the child exits first. */
  next: (pred: (m: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>
  exited: Promise<number | null>
}

function startChild(dir: string, digest: string, blobFile: string): Child {
  const env = { ...process.env }
  delete env['NODE_OPTIONS'] // tap's process-info hook is not wanted in the child
  const proc = spawn(process.execPath, ['--import', '@tapjs/typescript/import', childScript, dir, digest, blobFile], {
    cwd: root,
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const seen: Record<string, unknown>[] = []
  const waiters: Array<{ pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }> = []
  const lines = createInterface({ input: proc.stdout! })
  // After the last line was emitted: nothing more can match.
  const ended = new Promise<void>((resolve) => lines.once('close', resolve))
  lines.on('line', (line) => {
    const m = JSON.parse(line) as Record<string, unknown>
    seen.push(m)
    for (const w of [...waiters]) if (w.pred(m)) waiters.splice(waiters.indexOf(w), 1), w.resolve(m)
  })
  const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve))
  return {
    proc,
    next: (pred) => {
      const hit = seen.find(pred)
      if (hit) return Promise.resolve(hit)
      return new Promise((resolve, reject) => {
        const fail = (why: string) => reject(new Error(`child ${proc.pid} ${why}; it said: ${JSON.stringify(seen)}`))
        const timer = setTimeout(() => fail(`said nothing expected within ${CHILD_TIMEOUT} ms`), CHILD_TIMEOUT)
        waiters.push({
          pred,
          resolve: (m) => {
            clearTimeout(timer)
            resolve(m)
          },
        })
        void ended.then(() => {
          clearTimeout(timer)
          fail('closed its output first')
        })
      })
    },
    exited,
  }
}

t.test('a follower in another process tails the fill', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const blob = makeBlob(4 * 1024 * 1024 + 5)
  const blobFile = join(t.testdirName, 'blob.bin')
  // The gated upstream waits for a child that may take seconds to start on a loaded machine.
  const cache = await openCache(dir, { fillTimeout: 60_000 })
  writeFileSync(blobFile, blob.bytes)

  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const half = 2 * 1024 * 1024
  const mine = collect(writer.fill(upstreamBody(blob.bytes, { gate: { at: half, open: gate } }), blob.bytes.length))

  const child = startChild(dir, blob.digest, blobFile)
  await child.next((m) => m['ready'] === true)
  child.proc.stdin!.write('go\n')
  t.same(await child.next((m) => 'role' in m), { role: 'follower' }, 'the other process follows')
  const first = await child.next((m) => 'first' in m)
  t.ok((first['first'] as number) > 0, 'it received bytes while our upstream was stalled midway')
  t.notOk(existsSync(join(dir, 'blobs', 'sha256', blob.hex.slice(0, 2), blob.hex)), 'before the commit')
  release()

  t.ok((await mine).equals(blob.bytes), 'our client got the blob')
  const done = await child.next((m) => 'done' in m || 'error' in m)
  t.same(done, { done: true, received: blob.bytes.length, digest: blob.digest }, 'theirs too, verified')
  t.equal(await child.exited, 0)

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('three processes race for one digest: one writer', async (t) => {
  const dir = t.testdir()
  const blob = makeBlob(4 * 1024 * 1024)
  const blobFile = join(t.testdirName, 'blob.bin')
  writeFileSync(blobFile, blob.bytes)
  const children = [0, 1, 2].map(() => startChild(dir, blob.digest, blobFile))
  await Promise.all(children.map((c) => c.next((m) => m['ready'] === true)))
  for (const c of children) c.proc.stdin!.write('go\n')
  const roles = (await Promise.all(children.map((c) => c.next((m) => 'role' in m)))).map((m) => m['role'])
  t.equal(roles.filter((r) => r === 'writer').length, 1, `one writer (${roles.join(', ')})`)
  t.equal(roles.filter((r) => r === 'follower').length, 2, 'two followers')
  for (const c of children) {
    t.same(await c.next((m) => 'done' in m || 'error' in m), { done: true, received: blob.bytes.length, digest: blob.digest })
    t.equal(await c.exited, 0)
  }
  const cache = await openCache(dir)
  t.same(cache.cached(blob.digest), { size: blob.bytes.length }, 'committed once, seen by a new process')
  await cache.close()
})
