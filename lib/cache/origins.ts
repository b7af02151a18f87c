// Which upstreams delivered a blob themselves. The file on disk is shared by
// digest, but a hit is served only to requests routed to an upstream listed
// here: each upstream must once have sent these very bytes, and they must
// have verified, before its clients are served the cached copy. Otherwise an
// upstream that answers anything (a hostile or broken map entry, one reached
// with `?ns=`) would be handed every other upstream's private layers.
//
// origins/<2 hex>/<64 hex> holds one source id (paths.ts sourceId()) a line,
// appended by whichever process committed a fill for that upstream; lines
// that are not source ids are ignored. Each process remembers what it read
// (bounded) and reads the file again only when a source is not listed, since
// another process may have added it since.
import { mkdir, unlink } from 'node:fs/promises'
import { LRUCache } from 'lru-cache'
import { DIR_MODE, isSourceId, type CachePaths } from './paths.js'
import { appendLine, readSmall } from './safe-files.js'

/** More upstreams than any map has: a longer file is not ours. */
const MAX_FILE = 64 * 1024

export class BlobOrigins {
  readonly #paths: CachePaths
  readonly #known: LRUCache<string, Set<string>>

  constructor(paths: CachePaths, maxRemembered = 100_000) {
    this.#paths = paths
    this.#known = new LRUCache({ max: maxRemembered })
  }

  async has(hex: string, sid: string): Promise<boolean> {
    if (this.#known.get(hex)?.has(sid)) return true
    const text = await readSmall(this.#paths.originsOf(hex), MAX_FILE)
    const sids = new Set((text ?? '').split('\n').filter(isSourceId))
    this.#known.set(hex, sids)
    return sids.has(sid)
  }

  /** Records that `sid` delivered this blob, verified. */
  async add(hex: string, sid: string): Promise<void> {
    if (this.#known.get(hex)?.has(sid)) return
    await mkdir(this.#paths.originShard(hex), { recursive: true, mode: DIR_MODE })
    await appendLine(this.#paths.originsOf(hex), sid)
    const known = this.#known.get(hex)
    if (known) known.add(sid)
    else this.#known.set(hex, new Set([sid]))
  }

  /** The blob is gone (evicted, corrupt): whoever fills it again is recorded anew. */
  async forget(hex: string): Promise<void> {
    this.#known.delete(hex)
    await unlink(this.#paths.originsOf(hex)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }
}
