// Start-up: rebuild the index from what is on disk, and sweep tmp/.
//
// The walk is readdir per shard (withFileTypes, so no stat to tell files from
// dirs) and a bounded number of concurrent stats for the sizes; 100,000 blobs
// take a few seconds. Anything that is not `<2 hex>/<64 hex>` with matching
// prefix, as a regular file, is foreign: counted, logged, never touched, and
// not charged to maxSize. Contents are not re-hashed here (that would read the
// whole cache); verify-on-serve catches a file that rotted while we were down.
import type { Dirent } from 'node:fs'
import { lstat, readdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { ownerState } from './owner.js'
import { isHex64, type CachePaths } from './paths.js'

export interface ScannedBlob {
  hex: string
  size: number
  ino: number
  /** max(atime, mtime): the best guess at "last used" that survives a restart. */
  lastUsed: number
}

export interface ScanResult {
  /** Oldest first, so inserting in order leaves the newest most recently used. */
  blobs: ScannedBlob[]
  foreign: number
}

const shardName = /^[0-9a-f]{2}$/

/** Runs fn over items with at most `limit` calls in flight. */
export async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane))
}

/** A directory's entries; none when it (or a parent) is missing or not a directory. */
export async function readdirOrEmpty(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return []
    throw err
  }
}

export async function scanBlobs(paths: CachePaths, concurrency = 64): Promise<ScanResult> {
  let foreign = 0
  const shards: string[] = []
  for (const d of await readdirOrEmpty(paths.blobs)) {
    if (d.isDirectory() && shardName.test(d.name)) shards.push(d.name)
    else foreign++
  }
  const candidates: string[] = []
  await eachLimit(shards, 16, async (shard) => {
    for (const d of await readdirOrEmpty(join(paths.blobs, shard))) {
      if (d.isFile() && isHex64(d.name) && d.name.startsWith(shard)) candidates.push(d.name)
      else foreign++
    }
  })
  const blobs: ScannedBlob[] = []
  await eachLimit(candidates, concurrency, async (hex) => {
    try {
      const st = await stat(paths.blob(hex))
      blobs.push({ hex, size: st.size, ino: st.ino, lastUsed: Math.max(st.atimeMs, st.mtimeMs) })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err // gone meanwhile: fine
    }
  })
  blobs.sort((a, b) => a.lastUsed - b.lastUsed)
  return { blobs, foreign }
}

// <source id>-<hex>; a bare <hex> is an earlier version's fill, swept alike.
const tempName = /^((?:[0-9a-f]{16}-)?[0-9a-f]{64})(\.size~?|\.owner)?$/

/**
 * Removes leftovers of fills that no live writer holds. In this process we
 * know our writers (`isLive`); for other processes sharing the directory the
 * evidence is the owner file (owner.ts: a writer on this host that is no
 * longer running, e.g. killed mid-fill, is dead at once) or else age: a live
 * writer touches its temp file at least every `staleAfter` ms (its own idle
 * timeout aborts it otherwise). Sidecar and owner files go with their temp
 * file, or on their own when it is gone and they are old or dead. Foreign
 * names are left.
 */
export async function sweepTemps(
  paths: CachePaths,
  staleAfter: number,
  isLive: (key: string) => boolean,
  now = Date.now(),
): Promise<number> {
  const entries = await readdirOrEmpty(paths.tmp)
  const names = new Set(entries.map((d) => d.name))
  let removed = 0
  for (const d of entries) {
    const m = tempName.exec(d.name)
    if (!m || !d.isFile()) continue
    const key = m[1]!
    if (isLive(key)) continue
    if (m[2] && names.has(key)) continue // judged with its temp file
    const path = join(paths.tmp, d.name)
    try {
      const st = await lstat(path)
      if (now - st.mtimeMs <= staleAfter && (await ownerState(paths.owner(key))) !== 'dead') continue
      if ((await lstat(path)).ino !== st.ino) continue // replaced meanwhile: a new fill's
      await unlink(path)
      removed++
      if (!m[2]) {
        for (const p of [paths.sidecar(key), paths.sidecarTemp(key), paths.owner(key)]) await unlink(p).catch(() => {})
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
  }
  return removed
}
