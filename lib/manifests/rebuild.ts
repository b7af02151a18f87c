// Start-up: what the manifest store holds on disk (layout in paths.ts), so
// that its files count against --cache-max-size with the blobs and its tag
// records against their own bound. Only names the layout allows are
// reported; anything else under manifests/ is foreign and left alone, like
// foreign files under blobs/. Nothing is read but directory entries and
// stats: a file that rotted is caught when it is read (disk-store.ts).
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { eachLimit, readdirOrEmpty } from '../cache/rebuild.js'
import { isName, isTag } from '../registry/grammar.js'
import { isUpstreamKey, type ManifestPaths } from './paths.js'

interface Found {
  upstream: string
  repo: string
  /** Bytes of its files. */
  size: number
  /** max(atime, mtime): the best guess at "last used" that survives a restart. */
  lastUsed: number
}

/** A manifest: its body and sidecar, together. */
export interface FoundManifest extends Found {
  kind: 'manifest'
  digest: string
}

export interface FoundTag extends Found {
  kind: 'tag'
  tag: string
  /** The record's id (paths.ts): which way of asking it answers. */
  id: string
}

const hexName = /^([0-9a-f]{64})(\.json)?$/
/** Stats in flight at once, as for the blobs. */
const STATS = 64
const tagFile = /^([0-9a-f]{32})\.json$/

/** Size and last use of a file; undefined when it went away meanwhile. */
async function sizeOf(file: string): Promise<{ size: number; lastUsed: number } | undefined> {
  try {
    const st = await stat(file)
    return st.isFile() ? { size: st.size, lastUsed: Math.max(st.atimeMs, st.mtimeMs) } : undefined
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export async function scanManifests(paths: ManifestPaths): Promise<Array<FoundManifest | FoundTag>> {
  const out: Array<FoundManifest | FoundTag> = []
  for (const d of await readdirOrEmpty(paths.root)) {
    if (d.isDirectory() && isUpstreamKey(d.name)) await walkRepos(join(paths.root, d.name), d.name, [], out)
  }
  return out
}

/** Repositories nest (`library/alpine` is library/alpine/): every `_manifests` found is one. */
async function walkRepos(dir: string, upstream: string, name: string[], out: Array<FoundManifest | FoundTag>): Promise<void> {
  for (const d of await readdirOrEmpty(dir)) {
    if (!d.isDirectory()) continue
    if (d.name === '_manifests') {
      const repo = name.join('/')
      if (isName(repo)) await scanRepo(join(dir, d.name), upstream, repo, out)
    } else if (!d.name.startsWith('_')) {
      await walkRepos(join(dir, d.name), upstream, [...name, d.name], out)
    }
  }
}

async function scanRepo(repoDir: string, upstream: string, repo: string, out: Array<FoundManifest | FoundTag>): Promise<void> {
  const manifests = new Map<string, FoundManifest>()
  const sha = join(repoDir, 'sha256')
  await eachLimit(await readdirOrEmpty(sha), STATS, async (d) => {
    const m = hexName.exec(d.name)
    if (!m || !d.isFile()) return
    const st = await sizeOf(join(sha, d.name))
    if (!st) return
    const digest = `sha256:${m[1]!}`
    const known = manifests.get(digest)
    if (known) {
      known.size += st.size
      known.lastUsed = Math.max(known.lastUsed, st.lastUsed)
    } else {
      manifests.set(digest, { kind: 'manifest', upstream, repo, digest, ...st })
    }
  })
  out.push(...manifests.values())
  const tags = join(repoDir, 'tags')
  for (const t of await readdirOrEmpty(tags)) {
    if (!t.isDirectory() || !isTag(t.name)) continue
    const tagDir = join(tags, t.name)
    await eachLimit(await readdirOrEmpty(tagDir), STATS, async (d) => {
      const m = tagFile.exec(d.name)
      if (!m || !d.isFile()) return
      const st = await sizeOf(join(tagDir, d.name))
      if (st) out.push({ kind: 'tag', upstream, repo, tag: t.name, id: m[1]!, ...st })
    })
  }
}
