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
//   └── tmp/
//       ├── 3f2a…c9              in-flight fill; created with O_CREAT|O_EXCL
//       │                        ('wx'): whoever creates it is the one writer,
//       │                        in this process or any other sharing <dir>
//       ├── 3f2a…c9.size         sidecar: the expected length, for followers
//       │                        in other processes (decimal, nothing else)
//       ├── 3f2a…c9.size~        sidecar being written (renamed to .size)
//       └── 3f2a…c9.owner        who holds the lock: {host, pid, id} (owner.ts),
//                                so a crashed writer's file is cleaned at once
//
// tmp/ and blobs/ share one filesystem, so rename() is atomic. Only computed
// facts are stored: no upstream headers, no request data.
import { join } from 'node:path'
import { parseDigest } from '../registry/grammar.js'

const hex64 = /^[0-9a-f]{64}$/

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

  constructor(dir: string) {
    this.root = dir
    this.blobs = join(dir, 'blobs', 'sha256')
    this.tmp = join(dir, 'tmp')
  }

  shard(hex: string): string {
    return join(this.blobs, hex.slice(0, 2))
  }

  blob(hex: string): string {
    return join(this.blobs, hex.slice(0, 2), hex)
  }

  temp(hex: string): string {
    return join(this.tmp, hex)
  }

  sidecar(hex: string): string {
    return join(this.tmp, `${hex}.size`)
  }

  sidecarTemp(hex: string): string {
    return join(this.tmp, `${hex}.size~`)
  }

  owner(hex: string): string {
    return join(this.tmp, `${hex}.owner`)
  }
}
