// What `crproxy cache ls|du` print: aligned tables for people, plain JSON
// (raw bytes, ISO times, full digests) with --json.
import { counted, formatAge, formatSize, formatTime, table } from '../format.js'
import { bytesOf } from './gc.js'
import type { Inventory, ManifestItem } from './inventory.js'
import type { UpstreamNames } from './upstream-names.js'

function when(ms: number, now: number): string {
  return `${formatTime(ms)} (${formatAge(now - ms)} ago)`
}

/** Tags (from tag records) that name each manifest, by `upstream repo digest`. */
function tagsByManifest(inv: Inventory): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const t of inv.tags) {
    if (!t.digest) continue
    const k = `${t.upstream} ${t.repo} ${t.digest}`
    const list = out.get(k) ?? []
    if (!list.includes(t.tag)) list.push(t.tag)
    out.set(k, list)
  }
  return out
}

const tagsOf = (tags: Map<string, string[]>, m: ManifestItem) => (tags.get(`${m.upstream} ${m.repo} ${m.digest}`) ?? []).sort()

export function lsText(inv: Inventory, names: UpstreamNames, now = Date.now()): string {
  let out = `Blobs: ${inv.blobs.length}, ${formatSize(bytesOf(inv.blobs))}\n`
  if (inv.blobs.length) {
    const rows = [['DIGEST', 'SIZE', 'LAST USED', 'UPSTREAMS']]
    for (const b of inv.blobs) rows.push([b.digest, formatSize(b.size), when(b.lastUsed, now), b.origins.map(names).join(',') || '-'])
    out += table(rows, new Set([1]))
  }
  const tags = tagsByManifest(inv)
  out += `\nManifests: ${inv.manifests.length}, ${formatSize(bytesOf(inv.manifests))}\n`
  if (inv.manifests.length) {
    const rows = [['UPSTREAM', 'REPOSITORY', 'TAGS', 'DIGEST', 'SIZE', 'LAST USED']]
    for (const m of inv.manifests) {
      rows.push([m.upstream, m.repo, tagsOf(tags, m).join(',') || '-', m.digest, formatSize(m.size), when(m.lastUsed, now)])
    }
    out += table(rows, new Set([4]))
  }
  if (inv.temps.length) out += `\nIn progress (temporary files): ${inv.temps.length}, ${formatSize(bytesOf(inv.temps))}\n`
  return out
}

export function lsJson(inv: Inventory, names: UpstreamNames): unknown {
  const iso = (ms: number) => new Date(ms).toISOString()
  const tags = tagsByManifest(inv)
  return {
    blobs: inv.blobs.map((b) => ({ digest: b.digest, size: b.size, lastUsed: iso(b.lastUsed), upstreams: b.origins.map(names) })),
    manifests: inv.manifests.map((m) => ({
      upstream: m.upstream,
      repository: m.repo,
      digest: m.digest,
      tags: tagsOf(tags, m),
      size: m.size,
      lastUsed: iso(m.lastUsed),
    })),
    tags: inv.tags.map((t) => ({ upstream: t.upstream, repository: t.repo, tag: t.tag, digest: t.digest, size: t.size, lastUsed: iso(t.lastUsed) })),
    temps: inv.temps.map((t) => ({ path: t.path, size: t.size, lastUsed: iso(t.lastUsed) })),
  }
}

export interface DuTotals {
  blobs: { files: number; bytes: number }
  manifests: { files: number; bytes: number }
  tags: { files: number; bytes: number }
  temps: { files: number; bytes: number }
  total: { files: number; bytes: number }
}

export function duTotals(inv: Inventory): DuTotals {
  const t = (items: ReadonlyArray<{ size: number }>, per = 1) => ({ files: items.length * per, bytes: bytesOf(items) })
  const blobs = t(inv.blobs)
  // A manifest is two files: its bytes and their sidecar.
  const manifests = t(inv.manifests, 2)
  const tags = t(inv.tags)
  const temps = t(inv.temps)
  const all = [blobs, manifests, tags, temps]
  return { blobs, manifests, tags, temps, total: { files: all.reduce((n, x) => n + x.files, 0), bytes: all.reduce((n, x) => n + x.bytes, 0) } }
}

export function duText(d: DuTotals, dir: string): string {
  const row = (label: string, x: { files: number; bytes: number }, n: string) => [label, formatSize(x.bytes), String(x.bytes), n]
  return (
    `${dir}\n` +
    table(
      [
        ['', 'SIZE', 'BYTES', 'COUNT'],
        row('blobs', d.blobs, counted(d.blobs.files, 'blob')),
        row('manifests', d.manifests, counted(d.manifests.files / 2, 'manifest')),
        row('tag records', d.tags, counted(d.tags.files, 'record')),
        row('temporary', d.temps, counted(d.temps.files, 'file')),
        row('total', d.total, counted(d.total.files, 'file')),
      ],
      new Set([1, 2]),
    )
  )
}
