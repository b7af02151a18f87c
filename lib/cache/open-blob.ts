// Opens a committed blob for reading and checks it is still the file the
// index describes: gone (ENOENT) or of another length (EINTEGRITY) are
// reported to the caller, which drops or evicts the entry.
//
// It also names the file's state (inode, size, mtime, ctime, in ns): the
// stamp under which a successful verification is remembered. Any write,
// truncation, chmod or replacement changes the ctime or the inode, and ctime
// cannot be set back from user space. But the kernel's file clock is coarse
// (a tick of a few ms), so a file changed within the same tick as our stat
// could keep its ctime: a stamp taken less than RACY_MS after the file's
// last change is not trusted (git's "racily clean" rule).
import { open } from 'node:fs/promises'
import { IntegrityError } from '../integrity/integrity-error.js'
import type { OpenedBlob } from './read-stream.js'
import { ownHandle } from './shared-handle.js'

export interface OpenBlobHooks {
  /** ENOENT: deleted behind the index's back. */
  vanished?: () => void
  /** Length differs from the index: the file is bad (inode given). */
  corrupt?: (ino: number, err: IntegrityError) => void
}

/** ms since a file's last change before its stamp may vouch for it. */
const RACY_MS = 2000

export interface BlobOnDisk extends OpenedBlob {
  ino: number
  /** The file's state: equal stamps mean an unchanged file. Null when too recent to vouch for it. */
  stamp: string | null
}

export async function openBlob(
  path: string,
  digest: string,
  expectedSize: number | undefined,
  hooks: OpenBlobHooks = {},
  racyMs = RACY_MS,
): Promise<BlobOnDisk> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') hooks.vanished?.()
    throw err
  }
  try {
    const now = BigInt(Date.now()) * 1_000_000n
    const st = await fh.stat({ bigint: true })
    const size = Number(st.size)
    const ino = Number(st.ino)
    if (expectedSize !== undefined && size !== expectedSize) {
      const err = new IntegrityError({ expected: digest, found: 'sha256:?', expectedSize, foundSize: size })
      hooks.corrupt?.(ino, err)
      throw err
    }
    const settled = now - st.ctimeNs >= BigInt(racyMs) * 1_000_000n && now - st.mtimeNs >= BigInt(racyMs) * 1_000_000n
    const stamp = settled ? `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}` : null
    return { handle: ownHandle(fh), size, ino, stamp }
  } catch (err) {
    await fh.close()
    throw err
  }
}
