// Removing cache files while a proxy may be using the same directory. The
// rules are the proxy's own (lib/cache/blob-cache.ts #deleteFile, fill.ts):
//
//   - a committed blob is removed only while it is still the file we looked
//     at (same inode): a fill that committed a fresh copy in between keeps it;
//   - removal is unlink(): a reader that already opened the file reads it to
//     its end, one that opens it afterwards finds nothing and refetches, so
//     nobody is ever served part of a file;
//   - the blob first, then its origins record (a blob without origins is
//     only a miss; origins without a blob are never read);
//   - a manifest's sidecar before its body (the sidecar makes it visible);
//   - tmp/ is never touched: a fill in progress belongs to its writer.
import { lstat, unlink } from 'node:fs/promises'
import { CachePaths } from '../../cache/paths.js'
import { removeFile } from '../../manifests/disk-store.js'
import { ManifestPaths } from '../../manifests/paths.js'
import type { ManifestItem, TagItem } from './inventory.js'

export type Removal = 'removed' | 'gone' | 'replaced'

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code
}

/** Removes blobs/…/<hex> if it is still inode `ino` (any inode when undefined), and its origins. */
export async function removeBlob(paths: CachePaths, hex: string, ino?: number): Promise<Removal> {
  const path = paths.blob(hex)
  try {
    const st = await lstat(path)
    if (ino !== undefined && st.ino !== ino) return 'replaced'
    await unlink(path)
  } catch (err) {
    if (code(err) === 'ENOENT') return 'gone'
    throw err
  }
  await removeFile(paths.originsOf(hex))
  return 'removed'
}

export async function removeManifestFiles(mpaths: ManifestPaths, m: Pick<ManifestItem, 'upstream' | 'repo' | 'digest'>): Promise<Removal> {
  const repoDir = mpaths.repo(m.upstream, m.repo)
  if (!repoDir) return 'gone'
  const hex = m.digest.slice('sha256:'.length)
  let any = false
  for (const f of [mpaths.sidecar(repoDir, hex), mpaths.body(repoDir, hex)]) {
    try {
      await unlink(f)
      any = true
    } catch (err) {
      if (code(err) !== 'ENOENT') throw err
    }
  }
  return any ? 'removed' : 'gone'
}

export async function removeTagFile(mpaths: ManifestPaths, t: Pick<TagItem, 'upstream' | 'repo' | 'tag' | 'id'>): Promise<Removal> {
  const repoDir = mpaths.repo(t.upstream, t.repo)
  if (!repoDir) return 'gone'
  const file = mpaths.tag(repoDir, t.tag, t.id)
  try {
    await lstat(file)
  } catch (err) {
    if (code(err) === 'ENOENT') return 'gone'
    throw err
  }
  await removeFile(file)
  return 'removed'
}
