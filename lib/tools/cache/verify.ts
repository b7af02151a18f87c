// `crproxy cache verify`: every committed blob and manifest is hashed again
// and every tag record parsed; what fails is removed (remove.ts rules) and
// reported. Blobs are read through a descriptor opened with O_NOFOLLOW, in
// bounded chunks (never whole), and removed only if the path still names
// that very file. A manifest that fails is read once more before it goes:
// the proxy may have been rewriting it just then.
import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { open } from 'node:fs/promises'
import { CachePaths } from '../../cache/paths.js'
import { eachLimit } from '../../cache/rebuild.js'
import { readManifest, readTag } from '../../manifests/disk-store.js'
import { ManifestPaths } from '../../manifests/paths.js'
import type { BlobItem, Inventory, ManifestItem, TagItem } from './inventory.js'
import { removeBlob, removeManifestFiles, removeTagFile, type Removal } from './remove.js'

const CHUNK = 1024 * 1024
/** Files hashed at once: one reads while the other hashes. */
const PARALLEL = 2

export interface BadFile {
  kind: 'blob' | 'manifest' | 'tag'
  /** The digest (blob, manifest) or `repo:tag` (tag record). */
  name: string
  upstream?: string
  repo?: string
  reason: string
  removal: Removal
}

export interface VerifyReport {
  checked: { blobs: number; blobBytes: number; manifests: number; tags: number }
  bad: BadFile[]
}

// Reading a file sets its atime, and max(atime, mtime) is the proxy's "last
// used" (the LRU order that gc and a restarted proxy go by): a verify must not
// make every file look just used. O_NOATIME is allowed to the file's owner
// (the proxy's user); anyone else reads without it. (Setting the atime back
// afterwards would change the ctime, and with it the stamp under which the
// proxy remembers a file as verified: open-blob.ts.)
const READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK

async function openQuietly(path: string) {
  const noatime = (constants as Record<string, number>)['O_NOATIME'] ?? 0
  if (noatime) {
    try {
      return await open(path, READ | noatime)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
    }
  }
  return open(path, READ)
}

/** The SHA-256 hex of a regular file and its inode; throws ELOOP on a symlink. */
async function hashFile(path: string): Promise<{ hex: string; ino: number; size: number }> {
  const fh = await openQuietly(path)
  try {
    const st = await fh.stat()
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' })
    const hash = createHash('sha256')
    const buf = Buffer.allocUnsafe(CHUNK)
    let size = 0
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, size)
      if (bytesRead === 0) break
      hash.update(buf.subarray(0, bytesRead))
      size += bytesRead
    }
    return { hex: hash.digest('hex'), ino: st.ino, size }
  } finally {
    await fh.close()
  }
}

async function verifyBlob(paths: CachePaths, b: BlobItem): Promise<BadFile | null | 'gone'> {
  let found
  try {
    found = await hashFile(paths.blob(b.hex))
  } catch (err) {
    const c = (err as NodeJS.ErrnoException).code
    if (c === 'ENOENT') return 'gone' // evicted meanwhile
    if (c !== 'ELOOP' && c !== 'EINVAL') throw err
    // Not a regular file where a blob should be: not ours to serve.
    return { kind: 'blob', name: b.digest, reason: 'not a regular file', removal: await removeBlob(paths, b.hex) }
  }
  if (found.hex === b.hex) return null
  return {
    kind: 'blob',
    name: b.digest,
    reason: `content is sha256:${found.hex} (${found.size} bytes)`,
    removal: await removeBlob(paths, b.hex, found.ino),
  }
}

async function verifyManifest(mpaths: ManifestPaths, m: ManifestItem): Promise<BadFile | null> {
  const repoDir = mpaths.repo(m.upstream, m.repo)
  if (!repoDir) return null
  if ((await readManifest(mpaths, repoDir, m.digest)) !== 'corrupt') return null
  if ((await readManifest(mpaths, repoDir, m.digest)) !== 'corrupt') return null
  const removal = await removeManifestFiles(mpaths, m)
  return { kind: 'manifest', name: m.digest, upstream: m.upstream, repo: m.repo, reason: 'bytes or sidecar do not match the digest', removal }
}

async function verifyTag(mpaths: ManifestPaths, t: TagItem): Promise<BadFile | null> {
  const repoDir = mpaths.repo(t.upstream, t.repo)
  if (!repoDir) return null
  const file = mpaths.tag(repoDir, t.tag, t.id)
  if (await readTag(file)) return null
  const removal = await removeTagFile(mpaths, t)
  if (removal === 'gone') return null
  return { kind: 'tag', name: `${t.repo}:${t.tag}`, upstream: t.upstream, repo: t.repo, reason: 'record does not parse', removal }
}

export async function verifyCache(dir: string, inv: Inventory, onBlob?: (b: BlobItem) => void): Promise<VerifyReport> {
  const paths = new CachePaths(dir)
  const mpaths = new ManifestPaths(dir)
  const report: VerifyReport = { checked: { blobs: 0, blobBytes: 0, manifests: 0, tags: 0 }, bad: [] }
  await eachLimit(inv.blobs, PARALLEL, async (b) => {
    const r = await verifyBlob(paths, b)
    if (r === 'gone') return
    report.checked.blobs++
    report.checked.blobBytes += b.size
    onBlob?.(b)
    if (r) report.bad.push(r)
  })
  await eachLimit(inv.manifests, 8, async (m) => {
    report.checked.manifests++
    const r = await verifyManifest(mpaths, m)
    if (r) report.bad.push(r)
  })
  await eachLimit(inv.tags, 8, async (t) => {
    report.checked.tags++
    const r = await verifyTag(mpaths, t)
    if (r) report.bad.push(r)
  })
  return report
}
