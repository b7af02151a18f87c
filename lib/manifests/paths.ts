// Where manifests live in the cache directory, beside the blob store:
//
//   <cache-dir>/manifests/
//   ├── <upstream key>/                  registry map key: docker, gcr, default…
//   │   └── <repository>/                the name as the upstream knows it
//   │       │                            (library/alpine → library/alpine/)
//   │       └── _manifests/
//   │           ├── sha256/
//   │           │   ├── 3f2a…c9           the manifest bytes; SHA-256 = name
//   │           │   └── 3f2a…c9.json      {"mediaType":"…","size":1234}
//   │           └── tags/
//   │               └── <tag>/
//   │                   └── <id>.json     {"digest":"sha256:…","mediaType":"…",
//   │                                     "resolvedAt":"2024-…Z"}; <id> is 32
//   │                                     hex of sha256(tag, acceptKey): one
//   │                                     record per way of asking (the
//   │                                     manifest types Accept names or admits)
//   └── _tmp/                            files being written, renamed into place
//
// `_manifests` and `_tmp` cannot collide with a repository or upstream name:
// every name component starts with [a-z0-9] (distribution uses `_manifests`
// for the same reason). A manifest is cached per repository, not globally:
// holding a digest in one repository says nothing about another. Only
// computed facts are stored: no upstream headers, no request data. Every
// file here counts against --cache-max-size with the blobs (manifest-cache.ts).
import { join } from 'node:path'
import { isName, isTag } from '../registry/grammar.js'

const upstreamKeyRe = /^[a-z0-9][a-z0-9._-]*$/
const hex64 = /^[0-9a-f]{64}$/

/** Is this a registry map key that may name a directory? */
export function isUpstreamKey(s: string): boolean {
  return upstreamKeyRe.test(s)
}

export class ManifestPaths {
  readonly root: string
  readonly tmp: string

  constructor(cacheDir: string) {
    this.root = join(cacheDir, 'manifests')
    this.tmp = join(this.root, '_tmp')
  }

  /** The repository's `_manifests` dir; null when a name is not safe as a path. */
  repo(upstream: string, repo: string): string | null {
    if (!isUpstreamKey(upstream) || !isName(repo)) return null
    return join(this.root, upstream, ...repo.split('/'), '_manifests')
  }

  body(repoDir: string, hex: string): string {
    if (!hex64.test(hex)) throw new Error(`not a sha256 hex: ${hex}`)
    return join(repoDir, 'sha256', hex)
  }

  sidecar(repoDir: string, hex: string): string {
    return this.body(repoDir, hex) + '.json'
  }

  tag(repoDir: string, tag: string, id: string): string {
    if (!isTag(tag) || !/^[0-9a-f]{32}$/.test(id)) throw new Error(`not a tag record: ${tag}/${id}`)
    return join(repoDir, 'tags', tag, `${id}.json`)
  }
}
