// What a cache directory holds, read the way the proxy reads it at start-up
// (lib/cache/rebuild.ts, lib/manifests/rebuild.ts): committed blobs with
// their size and last use, the upstreams that delivered each (origins/),
// manifests per repository, tag records, and what sits in the temp dirs.
// Only directory entries, stats and small records are read here; contents
// are hashed by verify.ts. Nothing is opened through a symlink.
import { lstat } from 'node:fs/promises'
import { join } from 'node:path'
import { scanBlobs } from '../../cache/rebuild.js'
import { CachePaths, isSourceId } from '../../cache/paths.js'
import { readSmall } from '../../cache/safe-files.js'
import { readTag } from '../../manifests/disk-store.js'
import { ManifestPaths } from '../../manifests/paths.js'
import { scanManifests } from '../../manifests/rebuild.js'
import { eachLimit, readdirOrEmpty } from '../../cache/rebuild.js'

export interface BlobItem {
  kind: 'blob'
  digest: string
  hex: string
  size: number
  ino: number
  /** ms epoch: max(atime, mtime), the proxy's own "last used" across restarts. */
  lastUsed: number
  /** Source ids (lib/cache/paths.ts sourceId()) of the upstreams that delivered it. */
  origins: string[]
}

export interface ManifestItem {
  kind: 'manifest'
  upstream: string
  repo: string
  digest: string
  /** Bytes of the body and its sidecar. */
  size: number
  lastUsed: number
}

export interface TagItem {
  kind: 'tag'
  upstream: string
  repo: string
  tag: string
  /** The record's id: which way of asking (Accept) it answers. */
  id: string
  /** The digest it names; null when the record does not parse. */
  digest: string | null
  size: number
  lastUsed: number
}

export interface TempItem {
  kind: 'temp'
  /** Relative to the cache dir: tmp/… (blob fills) or manifests/_tmp/…. */
  path: string
  size: number
  lastUsed: number
}

export interface Inventory {
  blobs: BlobItem[]
  manifests: ManifestItem[]
  tags: TagItem[]
  temps: TempItem[]
  /** Entries under blobs/ that are not the store's own (never touched). */
  foreign: number
}

/** The largest origins file the proxy reads (origins.ts). */
const MAX_ORIGINS = 64 * 1024
const STATS = 64

export async function originsOf(paths: CachePaths, hex: string): Promise<string[]> {
  const text = await readSmall(paths.originsOf(hex), MAX_ORIGINS)
  return [...new Set((text ?? '').split('\n').filter(isSourceId))]
}

async function temps(dir: string, prefix: string): Promise<TempItem[]> {
  const out: TempItem[] = []
  await eachLimit(await readdirOrEmpty(dir), STATS, async (d) => {
    if (!d.isFile()) return
    try {
      const st = await lstat(join(dir, d.name))
      out.push({ kind: 'temp', path: `${prefix}/${d.name}`, size: st.size, lastUsed: Math.max(st.atimeMs, st.mtimeMs) })
    } catch {
      // finished (renamed or removed) while we looked: not a temp file any more
    }
  })
  return out
}

export async function takeInventory(dir: string, opts: { origins?: boolean; tagDigests?: boolean } = {}): Promise<Inventory> {
  const paths = new CachePaths(dir)
  const mpaths = new ManifestPaths(dir)
  const scan = await scanBlobs(paths)
  const blobs: BlobItem[] = scan.blobs.map((b) => ({ kind: 'blob', digest: `sha256:${b.hex}`, ...b, origins: [] }))
  if (opts.origins !== false) {
    await eachLimit(blobs, STATS, async (b) => {
      b.origins = await originsOf(paths, b.hex)
    })
  }
  const manifests: ManifestItem[] = []
  const tags: TagItem[] = []
  for (const f of await scanManifests(mpaths)) {
    if (f.kind === 'manifest') {
      manifests.push({ kind: 'manifest', upstream: f.upstream, repo: f.repo, digest: f.digest, size: f.size, lastUsed: f.lastUsed })
    } else {
      tags.push({ kind: 'tag', upstream: f.upstream, repo: f.repo, tag: f.tag, id: f.id, digest: null, size: f.size, lastUsed: f.lastUsed })
    }
  }
  if (opts.tagDigests !== false) {
    await eachLimit(tags, STATS, async (t) => {
      const repoDir = mpaths.repo(t.upstream, t.repo)
      const found = repoDir ? await readTag(mpaths.tag(repoDir, t.tag, t.id)).catch(() => null) : null
      t.digest = found?.record.digest ?? null
    })
  }
  const byUse = <T extends { lastUsed: number }>(a: T, b: T) => b.lastUsed - a.lastUsed
  return {
    blobs: blobs.sort(byUse),
    manifests: manifests.sort(byUse),
    tags: tags.sort(byUse),
    temps: [...(await temps(paths.tmp, 'tmp')), ...(await temps(mpaths.tmp, 'manifests/_tmp'))].sort(byUse),
    foreign: scan.foreign,
  }
}
