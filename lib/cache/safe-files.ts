// Small files of the cache's own (sidecars, owner records, origin lists) are
// written and read without following symlinks, and what is read back is
// checked before it is believed: whoever can plant a file in the cache
// directory must not be able to make crproxy write through it elsewhere, or
// feed it a record it did not write (docs/security.md, "Cache directory").
import { constants } from 'node:fs'
import { open, unlink } from 'node:fs/promises'
import { FILE_MODE } from './paths.js'
import { NotRegularFileError } from './errors.js'

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_APPEND, O_NOFOLLOW, O_NONBLOCK } = constants

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code
}

/**
 * Creates `path` anew with `data`: never through a symlink, never into a
 * file someone else made. Whatever sat at that name (a leftover, or a planted
 * link) is removed first; if it comes back in between, the write fails.
 */
export async function writeFresh(path: string, data: string): Promise<void> {
  const flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW
  let fh
  try {
    fh = await open(path, flags, FILE_MODE)
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err
    await unlink(path).catch((e) => (code(e) === 'ENOENT' ? undefined : Promise.reject(e)))
    fh = await open(path, flags, FILE_MODE)
  }
  try {
    await fh.writeFile(data)
  } finally {
    await fh.close()
  }
}

/** Appends one line to a regular file of ours, creating it owner-only. */
export async function appendLine(path: string, line: string): Promise<void> {
  const fh = await open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK, FILE_MODE)
  try {
    if (!(await fh.stat()).isFile()) throw new NotRegularFileError(`${path} is not a regular file`)
    await fh.write(`${line}\n`)
  } finally {
    await fh.close()
  }
}

/**
 * The text of a small regular file, or null when it is missing, a symlink,
 * not a regular file, or longer than `max` bytes (then it is not ours).
 */
export async function readSmall(path: string, max: number): Promise<string | null> {
  let fh
  try {
    fh = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
  } catch {
    return null
  }
  try {
    const st = await fh.stat()
    if (!st.isFile() || st.size > max) return null
    const buf = Buffer.alloc(max + 1)
    const { bytesRead } = await fh.read(buf, 0, max + 1, 0)
    return bytesRead > max ? null : buf.toString('utf8', 0, bytesRead)
  } catch {
    return null
  } finally {
    await fh.close()
  }
}
