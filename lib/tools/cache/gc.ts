// `crproxy cache gc`: which files to evict, and evicting them.
//
// --max-size keeps the most recently used files that fit, by the proxy's own
// LRU: blobs and manifest files go into a BlobIndex (lib/cache/blob-index.ts)
// bounded by the size, oldest use first, exactly as a proxy started with
// --cache-max-size rebuilds its index; whatever it pushes out is evicted.
// (A file larger than the whole bound is evicted too: the proxy would not
// index it, so it would sit there uncounted.) --older-than evicts what was
// last used before now minus the age. "Last used" is the proxy's measure
// that survives restarts: max(atime, mtime).
import { BlobIndex } from '../../cache/blob-index.js'
import { CachePaths } from '../../cache/paths.js'
import { ManifestPaths } from '../../manifests/paths.js'
import type { BlobItem, Inventory, ManifestItem, TagItem } from './inventory.js'
import { removeBlob, removeManifestFiles, removeTagFile, type Removal } from './remove.js'

export type GcItem = BlobItem | ManifestItem | TagItem

export interface GcPolicy {
  maxSize?: number
  olderThan?: number
  now?: number
}

export function bytesOf(items: ReadonlyArray<{ size: number }>): number {
  return items.reduce((n, i) => n + i.size, 0)
}

/** The files to evict, least recently used first. */
export function selectVictims(inv: Inventory, policy: GcPolicy): GcItem[] {
  const all: GcItem[] = [...inv.blobs, ...inv.manifests, ...inv.tags]
  const victims = new Set<GcItem>()
  if (policy.olderThan !== undefined) {
    const cutoff = (policy.now ?? Date.now()) - policy.olderThan
    for (const i of all) if (i.lastUsed < cutoff) victims.add(i)
  }
  if (policy.maxSize !== undefined) {
    const keyed = new Map<string, GcItem>()
    const index = new BlobIndex({ maxSize: policy.maxSize, onEvict: (hex) => victims.add(keyed.get(hex)!) })
    // maxSize 0 means "unbounded" to the proxy; here it means "nothing fits".
    const fits = (size: number) => policy.maxSize! > 0 && index.fits(size)
    const files = []
    for (const i of all) {
      if (victims.has(i)) continue
      if (!fits(i.size)) {
        victims.add(i)
        continue
      }
      if (i.kind === 'blob') {
        keyed.set(i.hex, i)
        files.push({ hex: i.hex, ino: i.ino, size: i.size, lastUsed: i.lastUsed })
      } else {
        files.push({ key: keyOf(i), size: i.size, lastUsed: i.lastUsed, evict: () => victims.add(i) })
      }
    }
    index.rebuild(files)
  }
  return [...victims].sort((a, b) => a.lastUsed - b.lastUsed)
}

function keyOf(i: ManifestItem | TagItem): string {
  return i.kind === 'manifest' ? `m ${i.upstream} ${i.repo} ${i.digest}` : `t ${i.upstream} ${i.repo} ${i.tag} ${i.id}`
}

export async function evict(dir: string, item: GcItem): Promise<Removal> {
  if (item.kind === 'blob') return removeBlob(new CachePaths(dir), item.hex, item.ino)
  const mpaths = new ManifestPaths(dir)
  return item.kind === 'manifest' ? removeManifestFiles(mpaths, item) : removeTagFile(mpaths, item)
}
