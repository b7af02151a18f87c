// Before the caches open: the cache directory exists (created here if not)
// and can at least be read. A directory that exists but cannot be written is
// still usable (serve what is cached, cache nothing); one that is not a
// directory, cannot be created or cannot be read is not, and the proxy must
// not start as if it had a cache.
//
// The missing parts are created one mkdir at a time, not with
// mkdir({ recursive }): Node's recursive mkdir retries ENOENT forever on
// filesystems like /proc, where the parent exists and a child can never be
// made.
import { constants } from 'node:fs'
import { access, mkdir, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { errnoCode, errnoReason } from '../errno-reason.js'
import { DIR_MODE } from './paths.js'

export class CacheDirError extends Error {
  override name = 'CacheDirError'
  constructor(
    readonly path: string,
    readonly code: string,
    doing: string,
  ) {
    super(`${path}: ${doing}: ${errnoReason({ code })}`)
  }
}

/** Resolves once `dir` is a readable directory; throws CacheDirError naming the path and the reason. */
export async function ensureUsableCacheDir(dir: string): Promise<void> {
  const path = resolve(dir)
  const missing: string[] = []
  let at = path
  for (;;) {
    try {
      const s = await stat(at)
      if (!s.isDirectory()) throw new CacheDirError(at, 'ENOTDIR', at === path ? 'cannot use' : 'cannot create ' + path)
      break
    } catch (err) {
      if (err instanceof CacheDirError) throw err
      const code = errnoCode(err)
      if (code !== 'ENOENT' || dirname(at) === at) throw new CacheDirError(path, code, 'cannot use')
      missing.unshift(at)
      at = dirname(at)
    }
  }
  for (const d of missing) {
    try {
      await mkdir(d, { mode: DIR_MODE })
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw new CacheDirError(d, errnoCode(err), 'cannot create')
    }
  }
  try {
    await access(path, constants.R_OK | constants.X_OK)
  } catch (err) {
    throw new CacheDirError(path, errnoCode(err), 'cannot read')
  }
}
