// Where things live in the cache directory. Content-addressed, like cacache:
//
//   <dir>/
//   ├── blobs/
//   │   └── sha256/
//   │       ├── 3f/
//   │       │   └── 3f2a…c9      committed blob (64 hex): its SHA-256 matched
//   │       │                    before it was renamed here, so it is never
//   │       │                    half-written
//   │       └── …                256 shard dirs, named by the first 2 hex
//   ├── origins/
//   │   └── 3f/
//   │       └── 3f2a…c9          which upstreams delivered this blob themselves
//   │                            (verified): one source id a line (origins.ts)
//   └── tmp/
//       ├── <src>-3f2a…c9        in-flight fill of one upstream (<src>: its
//       │                        source id, 16 hex); created with O_CREAT|
//       │                        O_EXCL ('wx'): whoever creates it is the one
//       │                        writer for that upstream, in this process or
//       │                        any other sharing <dir>
//       ├── <src>-3f2a…c9.size   sidecar: the expected length, for followers
//       │                        in other processes (decimal, nothing else)
//       ├── <src>-3f2a…c9.size~  sidecar being written (renamed to .size)
//       └── <src>-3f2a…c9.owner  who holds the lock: {host, pid, id} (owner.ts),
//                                so a crashed writer's file is cleaned at once
//
// Fills are per upstream so that one upstream can neither stall nor feed a
// pull routed to another (docs/security.md, "Shared cache"). tmp/ and blobs/
// share one filesystem, so rename() is atomic. Only computed facts are
// stored: no upstream headers, no request data. Everything is created
// owner-only (files 0600, directories 0700), and nothing in tmp/ or origins/
// is opened through a symlink.
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { parseDigest } from '../registry/grammar.js'

const hex64 = /^[0-9a-f]{64}$/
const sourceIdGrammar = /^[0-9a-f]{16}$/

/** Owner-only: cached layers may be private. */
export const FILE_MODE = 0o600
export const DIR_MODE = 0o700

/** The id an upstream's fills and origin records go by: a hash of what identifies it. */
export function sourceId(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 16)
}

export function isSourceId(s: string): boolean {
  return sourceIdGrammar.test(s)
}

/** A fill's name in tmp/: one per upstream and digest. */
export function fillKey(sid: string, hex: string): string {
  return `${sid}-${hex}`
}

export function isHex64(s: string): boolean {
  return hex64.test(s)
}

/** 'sha256:<64 hex>' → '<64 hex>'; null for any other digest (not cached). */
export function hexOf(digest: string): string | null {
  const parsed = parseDigest(digest)
  return parsed?.algorithm === 'sha256' ? parsed.hex : null
}

export class CachePaths {
  readonly root: string
  readonly blobs: string
  readonly tmp: string
  readonly origins: string

  constructor(dir: string) {
    this.root = dir
    this.blobs = join(dir, 'blobs', 'sha256')
    this.tmp = join(dir, 'tmp')
    this.origins = join(dir, 'origins')
  }

  shard(hex: string): string {
    return join(this.blobs, hex.slice(0, 2))
  }

  blob(hex: string): string {
    return join(this.blobs, hex.slice(0, 2), hex)
  }

  originShard(hex: string): string {
    return join(this.origins, hex.slice(0, 2))
  }

  originsOf(hex: string): string {
    return join(this.origins, hex.slice(0, 2), hex)
  }

  // The tmp/ names take a fill key (fillKey()).
  temp(key: string): string {
    return join(this.tmp, key)
  }

  sidecar(key: string): string {
    return join(this.tmp, `${key}.size`)
  }

  sidecarTemp(key: string): string {
    return join(this.tmp, `${key}.size~`)
  }

  owner(key: string): string {
    return join(this.tmp, `${key}.owner`)
  }
}
