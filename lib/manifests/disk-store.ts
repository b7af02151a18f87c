// The on-disk half of the manifest cache (layout in paths.ts). Every write is
// a temp file opened with 'wx' in _tmp/, then rename()d into place, so a
// reader never sees half a file; every read of a manifest is checked against
// its digest and size before it is returned. I/O errors other than "not
// there" are thrown; a file that fails its check is reported as 'corrupt'.
import { createHash, randomBytes } from 'node:crypto'
import { isSha256Digest } from '../registry/grammar.js'
import { constants } from 'node:fs'
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises'
import { DIR_MODE, FILE_MODE } from '../cache/paths.js'
import { dirname, join } from 'node:path'
import { essence } from './media-types.js'
import type { ManifestPaths } from './paths.js'
import { TooLargeError } from '../cache/errors.js'

/** containerd refuses larger manifests (protocol.md §10); nothing larger is buffered. */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024

export interface StoredManifest {
  digest: string
  mediaType: string
  body: Buffer
}

export interface TagRecord {
  digest: string
  mediaType: string
  /** ms since the epoch at which the upstream last said tag → digest. */
  resolvedAt: number
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOENT' || code === 'ENOTDIR'
}

/** A sidecar or tag record is a few hundred bytes of JSON; a bigger file is not ours. */
const MAX_RECORD_SIZE = 64 * 1024

/** A planted symlink (ELOOP under O_NOFOLLOW) or an oversized file: not a record of ours. */
function isNotOurs(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ELOOP' || err instanceof TooLargeError
}

export function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

export async function writeAtomic(paths: ManifestPaths, file: string, data: Buffer | string): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: DIR_MODE })
  await mkdir(paths.tmp, { recursive: true, mode: DIR_MODE })
  const temp = join(paths.tmp, randomBytes(12).toString('hex'))
  try {
    // Owner-only, and never through a planted link (as the blob store).
    const fh = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, FILE_MODE)
    try {
      await fh.writeFile(data)
    } finally {
      await fh.close()
    }
    await rename(temp, file)
  } catch (err) {
    await unlink(temp).catch(() => {})
    throw err
  }
}

/** The body first, then the sidecar that makes it visible to readers. Resolves to the bytes of both. */
export async function writeManifest(paths: ManifestPaths, repoDir: string, m: StoredManifest): Promise<number> {
  const hex = m.digest.slice('sha256:'.length)
  const sidecar = JSON.stringify({ mediaType: m.mediaType, size: m.body.length })
  await writeAtomic(paths, paths.body(repoDir, hex), m.body)
  await writeAtomic(paths, paths.sidecar(repoDir, hex), sidecar)
  return m.body.length + Buffer.byteLength(sidecar)
}

/**
 * A verified manifest and the bytes of its files; null when not cached;
 * 'corrupt' when the sidecar is unreadable or the bytes are not the digest's
 * (the caller deletes them).
 */
export async function readManifest(
  paths: ManifestPaths,
  repoDir: string,
  digest: string,
): Promise<{ manifest: StoredManifest; bytes: number } | null | 'corrupt'> {
  const hex = digest.slice('sha256:'.length)
  let sidecarText: string
  try {
    sidecarText = (await readBounded(paths.sidecar(repoDir, hex), MAX_RECORD_SIZE)).toString('utf8')
  } catch (err) {
    if (isMissing(err)) return null
    if (isNotOurs(err)) return 'corrupt'
    throw err
  }
  const meta = parseSidecar(sidecarText)
  if (!meta) return 'corrupt'
  let body: Buffer
  try {
    body = await readBounded(paths.body(repoDir, hex), MAX_MANIFEST_SIZE)
  } catch (err) {
    if (isMissing(err)) return null
    if (err instanceof TooLargeError) return 'corrupt'
    throw err
  }
  if (body.length !== meta.size || sha256Hex(body) !== hex) return 'corrupt'
  return { manifest: { digest, mediaType: meta.mediaType, body }, bytes: body.length + Buffer.byteLength(sidecarText) }
}

export async function removeManifest(paths: ManifestPaths, repoDir: string, digest: string): Promise<void> {
  const hex = digest.slice('sha256:'.length)
  for (const f of [paths.sidecar(repoDir, hex), paths.body(repoDir, hex)]) await removeFile(f)
}

function parseSidecar(text: string): { mediaType: string; size: number } | null {
  try {
    const j = JSON.parse(text) as unknown
    if (typeof j !== 'object' || j === null) return null
    const { mediaType, size } = j as Record<string, unknown>
    if (typeof mediaType !== 'string' || essence(mediaType) !== mediaType) return null
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_MANIFEST_SIZE) return null
    return { mediaType, size }
  } catch {
    return null
  }
}

/** Reads a whole file, refusing (EFBIG) one larger than `limit` without reading it. */
async function readBounded(file: string, limit: number): Promise<Buffer> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  try {
    const { size } = await fh.stat()
    if (size > limit) throw new TooLargeError(`${file} is larger than ${limit} bytes`)
    const buf = Buffer.alloc(size)
    let off = 0
    while (off < size) {
      const { bytesRead } = await fh.read(buf, off, size - off, off)
      if (bytesRead === 0) break
      off += bytesRead
    }
    return off === size ? buf : buf.subarray(0, off)
  } finally {
    await fh.close()
  }
}

/** Resolves to the bytes written. */
export async function writeTag(paths: ManifestPaths, file: string, r: TagRecord): Promise<number> {
  const text = JSON.stringify({ digest: r.digest, mediaType: r.mediaType, resolvedAt: new Date(r.resolvedAt).toISOString() })
  await writeAtomic(paths, file, text)
  return Buffer.byteLength(text)
}

/** Deletes a file; one that is not there is fine. */
export async function removeFile(file: string): Promise<void> {
  await unlink(file).catch((err: unknown) => {
    if (!isMissing(err)) throw err
  })
}

/** The record and the bytes of its file, or null when there is none or it does not parse. */
export async function readTag(file: string): Promise<{ record: TagRecord; bytes: number } | null> {
  let text: string
  try {
    text = (await readBounded(file, MAX_RECORD_SIZE)).toString('utf8')
  } catch (err) {
    if (isMissing(err) || isNotOurs(err)) return null
    throw err
  }
  try {
    const j = JSON.parse(text) as Record<string, unknown>
    const { digest, mediaType, resolvedAt } = j
    if (typeof digest !== 'string' || !isSha256Digest(digest)) return null
    if (typeof mediaType !== 'string' || essence(mediaType) !== mediaType) return null
    const at = typeof resolvedAt === 'string' ? Date.parse(resolvedAt) : NaN
    return Number.isFinite(at) ? { record: { digest, mediaType, resolvedAt: at }, bytes: Buffer.byteLength(text) } : null
  } catch {
    return null
  }
}

/** Removes temp files left behind by a crash (older than `olderThan` ms). */
export async function sweepTmp(paths: ManifestPaths, olderThan: number): Promise<number> {
  let names: string[]
  try {
    names = await readdir(paths.tmp)
  } catch (err) {
    if (isMissing(err)) return 0
    throw err
  }
  let removed = 0
  const cutoff = Date.now() - olderThan
  for (const n of names) {
    const f = join(paths.tmp, n)
    try {
      if ((await stat(f)).mtimeMs < cutoff) {
        await unlink(f)
        removed++
      }
    } catch (err) {
      if (!isMissing(err)) throw err
    }
  }
  return removed
}
