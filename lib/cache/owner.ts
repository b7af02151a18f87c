// Who holds a fill's lock: tmp/<key>.owner names the host, pid and a
// per-process id of the process that created tmp/<key>. With it a restarted
// process, or a neighbour following the fill, tells a crashed writer's temp
// file from a live one at once, instead of waiting for it to go stale
// (rebuild.ts sweeps it at start-up, follow.ts takes the lock over).
//
// Only a record from this host name is judged: another host's pid means
// nothing here, and for those the staleness rule alone applies. A pid that
// is ours but with another id is a previous life of this process (a
// container restarted as pid 1 again). Breaking a live lock by mistake
// costs a second download, never a wrong blob: a writer commits only while
// the temp file is still its own (same inode, fill.ts).
import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { readSmall } from './safe-files.js'

export const processId = randomUUID()
const host = hostname()

export type OwnerState = 'alive' | 'dead' | 'unknown'

/** This process, as written to tmp/<hex>.owner. */
export function ownerRecord(): string {
  return JSON.stringify({ host, pid: process.pid, id: processId })
}

/** Is the process named in this owner file still running? */
export async function ownerState(path: string): Promise<OwnerState> {
  let rec: { host?: unknown; pid?: unknown; id?: unknown }
  try {
    rec = JSON.parse((await readSmall(path, 1024)) ?? '') as typeof rec
  } catch {
    return 'unknown' // none (yet, or any more), or half written
  }
  if (rec === null || typeof rec !== 'object' || rec.host !== host || !Number.isInteger(rec.pid)) return 'unknown'
  const pid = rec.pid as number
  if (pid === process.pid) return rec.id === processId ? 'alive' : 'dead'
  try {
    process.kill(pid, 0)
    return 'alive'
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'dead' : 'alive' // EPERM: someone else's, alive
  }
}
