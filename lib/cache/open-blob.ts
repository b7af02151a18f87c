// Opens a committed blob for reading and checks it is still the file the
// index describes: gone (ENOENT) or of another length (EINTEGRITY) are
// reported to the caller, which drops or evicts the entry.
import { open } from 'node:fs/promises'
import { integrityError, type IntegrityError } from '../stages/verify-digest.js'
import type { OpenedBlob } from './read-stream.js'
import { ownHandle } from './shared-handle.js'

export interface OpenBlobHooks {
  /** ENOENT: deleted behind the index's back. */
  vanished?: () => void
  /** Length differs from the index: the file is bad (inode given). */
  corrupt?: (ino: number, err: IntegrityError) => void
}

export async function openBlob(
  path: string,
  digest: string,
  expectedSize: number | undefined,
  hooks: OpenBlobHooks = {},
): Promise<OpenedBlob & { ino: number }> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') hooks.vanished?.()
    throw err
  }
  try {
    const st = await fh.stat()
    if (expectedSize !== undefined && st.size !== expectedSize) {
      const err = integrityError({ expected: digest, found: 'sha256:?', expectedSize, foundSize: st.size })
      hooks.corrupt?.(st.ino, err)
      throw err
    }
    return { handle: ownHandle(fh), size: st.size, ino: st.ino }
  } catch (err) {
    await fh.close()
    throw err
  }
}
