// `crproxy cache ls|du|verify|gc|rm` on a cache directory, safe beside a
// proxy running on the same directory: reads go through the proxy's own
// scanners, removals follow its rules (remove.ts), and temp files of fills
// in progress are only counted, never touched.
//
// Exit codes: 0 done; 1 something was wrong (verify found bad files, rm
// named a digest that is not cached, a removal failed); 2 unusable
// arguments or cache directory (one line on stderr).
import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import minimist from 'minimist'
import { hexOf, CachePaths } from '../../cache/paths.js'
import { parseSize } from '../../config.js'
import { ConfigError, type RegistryMap } from '../../config.js'
import { errnoReason } from '../../errno-reason.js'
import { normaliseArgv } from '../../flags.js'
import { isSha256Digest } from '../../registry/grammar.js'
import { counted, formatSize, table } from '../format.js'
import { parseAge } from './age.js'
import { bytesOf, evict, selectVictims, type GcItem } from './gc.js'
import { takeInventory } from './inventory.js'
import { duText, duTotals, lsJson, lsText } from './render.js'
import { removeBlob, removeManifestFiles, removeTagFile } from './remove.js'
import { upstreamNames } from './upstream-names.js'
import { verifyCache } from './verify.js'
import { ManifestPaths } from '../../manifests/paths.js'

export interface CacheCommandIo {
  env: NodeJS.ProcessEnv
  stdout: (s: string) => void
  stderr: (s: string) => void
}

export const cacheUsage = `Usage: crproxy cache <command> [--cache-dir dir] [flags]

Commands (safe while a proxy runs on the same directory):
  ls [--json]                    blobs (size, last use, upstreams) and manifests (repository, tags)
  du [--json]                    totals for blobs, manifests, tag records and temporary files
  verify [--json]                hash every blob and manifest again; remove and report bad ones (exit 1)
  gc --max-size SIZE [--json]    evict the least recently used until the rest fits in SIZE (500MiB, 20GiB)
  gc --older-than AGE [--json]   evict what was last used longer ago than AGE (12h, 7d, 2w)
  rm DIGEST... [--json]          remove these blobs or manifests (sha256:…)

Flags:
  --cache-dir dir      the proxy's --cache-dir (env CRPROXY_CACHE_DIR)
  --registry-map path  names upstreams in ls (default: the proxy's; env CRPROXY_REGISTRY_MAP)
  --dry-run            gc: list what would be evicted, remove nothing
  --json               machine-readable output
`

const subcommands = new Set(['ls', 'du', 'verify', 'gc', 'rm'])

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : Array.isArray(v) ? str(v[v.length - 1]) : undefined
}

/** The directory must exist already: a typo must not look like an empty cache. */
async function usableDir(dir: string, write: boolean): Promise<string> {
  const path = resolve(dir)
  try {
    if (!(await stat(path)).isDirectory()) throw Object.assign(new Error(), { code: 'ENOTDIR' })
    await access(path, constants.R_OK | constants.X_OK | (write ? constants.W_OK : 0))
  } catch (err) {
    throw new ConfigError(`--cache-dir ${path}: ${errnoReason(err)}`)
  }
  return path
}

export async function cacheCommand(
  argv: string[],
  io: CacheCommandIo,
  loadMap: (source: string | undefined) => Promise<RegistryMap>,
): Promise<number> {
  try {
    const strange: string[] = []
    const a = minimist(normaliseArgv(argv), {
      string: ['cache-dir', 'max-size', 'older-than', 'registry-map'],
      boolean: ['json', 'dry-run', 'help'],
      unknown: (f) => (f.startsWith('-') ? (strange.push(f), false) : true),
    })
    if (strange.length) throw new ConfigError(`cache: unknown flag ${strange[0]!.split('=')[0]}`)
    if (a['help'] || argv.length === 0) {
      io.stdout(cacheUsage)
      return argv.length === 0 ? 2 : 0
    }
    const [sub, ...args] = a._.map(String)
    if (!sub || !subcommands.has(sub)) throw new ConfigError(`cache: expected ls, du, verify, gc or rm, got ${JSON.stringify(sub ?? '')}`)
    if (sub !== 'rm' && args.length) throw new ConfigError(`cache ${sub}: unexpected argument ${JSON.stringify(args[0])}`)
    if (sub !== 'gc' && (a['max-size'] !== undefined || a['older-than'] !== undefined || a['dry-run'])) {
      throw new ConfigError(`cache ${sub}: --max-size, --older-than and --dry-run are for gc`)
    }
    const dirArg = str(a['cache-dir']) || io.env['CRPROXY_CACHE_DIR']
    if (!dirArg) throw new ConfigError('cache: --cache-dir (or CRPROXY_CACHE_DIR) is required')
    const json = a['json'] === true
    const out = (v: unknown) => io.stdout(JSON.stringify(v, null, 2) + '\n')
    const writes = sub === 'verify' || sub === 'rm' || (sub === 'gc' && !a['dry-run'])

    if (sub === 'gc') {
      const maxSize = str(a['max-size'])
      const olderThan = str(a['older-than'])
      if (maxSize === undefined && olderThan === undefined) throw new ConfigError('cache gc: give --max-size SIZE or --older-than AGE')
      let max: number | undefined
      if (maxSize !== undefined) {
        try {
          max = parseSize(maxSize)
        } catch (err) {
          throw new ConfigError(`--max-size: ${(err as Error).message}`)
        }
      }
      const age = olderThan === undefined ? undefined : parseAge(olderThan, '--older-than')
      const dir = await usableDir(dirArg, writes)
      return gc(dir, { maxSize: max, olderThan: age }, a['dry-run'] === true, json, io)
    }
    if (sub === 'rm') {
      if (!args.length) throw new ConfigError('cache rm: name at least one digest (sha256:…)')
      const bad = args.find((d) => !isSha256Digest(d))
      if (bad !== undefined) throw new ConfigError(`cache rm: ${JSON.stringify(bad)} is not a sha256 digest`)
      return rm(await usableDir(dirArg, true), args, json, io)
    }
    const dir = await usableDir(dirArg, writes)
    if (sub === 'ls') {
      const names = upstreamNames(await loadMap(str(a['registry-map']) ?? io.env['CRPROXY_REGISTRY_MAP']))
      const inv = await takeInventory(dir)
      if (json) out(lsJson(inv, names))
      else io.stdout(lsText(inv, names))
      return 0
    }
    if (sub === 'du') {
      const totals = duTotals(await takeInventory(dir, { origins: false, tagDigests: false }))
      if (json) out({ dir, ...totals })
      else io.stdout(duText(totals, dir))
      return 0
    }
    // verify
    const inv = await takeInventory(dir, { origins: false, tagDigests: false })
    const report = await verifyCache(dir, inv)
    if (json) out(report)
    else {
      const c = report.checked
      for (const b of report.bad) {
        const where = b.repo ? ` in ${b.upstream}/${b.repo}` : ''
        io.stdout(`bad ${b.kind} ${b.name}${where}: ${b.reason}; ${b.removal === 'removed' ? 'removed' : `not removed (${b.removal})`}\n`)
      }
      io.stdout(
        `verified ${counted(c.blobs, 'blob')} (${formatSize(c.blobBytes)}), ${counted(c.manifests, 'manifest')}, ${counted(c.tags, 'tag record')}: ` +
          (report.bad.length ? `${report.bad.length} bad, removed\n` : 'all good\n'),
      )
    }
    return report.bad.length ? 1 : 0
  } catch (err) {
    io.stderr(`crproxy: ${(err as Error).message}\n`)
    return err instanceof ConfigError ? 2 : 1
  }
}

function describe(i: GcItem): string {
  if (i.kind === 'blob') return `blob ${i.digest}`
  if (i.kind === 'manifest') return `manifest ${i.upstream}/${i.repo}@${i.digest}`
  return `tag record ${i.upstream}/${i.repo}:${i.tag}`
}

async function gc(dir: string, policy: { maxSize?: number; olderThan?: number }, dryRun: boolean, json: boolean, io: CacheCommandIo): Promise<number> {
  const inv = await takeInventory(dir, { origins: false, tagDigests: false })
  const before = bytesOf(inv.blobs) + bytesOf(inv.manifests) + bytesOf(inv.tags)
  const victims = selectVictims(inv, policy)
  const results: Array<{ item: GcItem; result: string }> = []
  let failed = 0
  for (const item of victims) {
    if (dryRun) {
      results.push({ item, result: 'would evict' })
      continue
    }
    try {
      results.push({ item, result: await evict(dir, item) })
    } catch (err) {
      failed++
      results.push({ item, result: `failed: ${errnoReason(err)}` })
    }
  }
  const freed = bytesOf(results.filter((r) => r.result === 'removed' || r.result === 'would evict').map((r) => r.item))
  if (json) {
    io.stdout(
      JSON.stringify(
        {
          dryRun,
          before,
          freed,
          after: before - freed,
          evicted: results.map(({ item, result }) => ({
            kind: item.kind,
            digest: item.digest,
            ...(item.kind !== 'blob' ? { upstream: item.upstream, repository: item.repo } : {}),
            ...(item.kind === 'tag' ? { tag: item.tag } : {}),
            size: item.size,
            lastUsed: new Date(item.lastUsed).toISOString(),
            result,
          })),
        },
        null,
        2,
      ) + '\n',
    )
  } else {
    if (results.length) io.stdout(table(results.map(({ item, result }) => [result, formatSize(item.size), describe(item)]), new Set([1])))
    const verb = dryRun ? 'would free' : 'freed'
    io.stdout(`${verb} ${formatSize(freed)} (${results.length} ${results.length === 1 ? 'file' : 'files'}); ${formatSize(before - freed)} left\n`)
  }
  return failed ? 1 : 0
}

async function rm(dir: string, digests: string[], json: boolean, io: CacheCommandIo): Promise<number> {
  const paths = new CachePaths(dir)
  const mpaths = new ManifestPaths(dir)
  const inv = await takeInventory(dir, { origins: false })
  const report: Array<{ digest: string; removed: string[] }> = []
  let missing = 0
  for (const digest of new Set(digests)) {
    const removed: string[] = []
    const hex = hexOf(digest)!
    if ((await removeBlob(paths, hex)) === 'removed') removed.push('blob')
    for (const m of inv.manifests.filter((m) => m.digest === digest)) {
      if ((await removeManifestFiles(mpaths, m)) === 'removed') removed.push(`manifest ${m.upstream}/${m.repo}`)
    }
    // Tag records naming it would only point the offline fallback at nothing.
    for (const t of inv.tags.filter((t) => t.digest === digest)) {
      if ((await removeTagFile(mpaths, t)) === 'removed') removed.push(`tag ${m(t)}`)
    }
    if (!removed.length) missing++
    report.push({ digest, removed })
  }
  if (json) io.stdout(JSON.stringify(report, null, 2) + '\n')
  else for (const r of report) io.stdout(`${r.digest}: ${r.removed.length ? 'removed ' + r.removed.join(', ') : 'not in the cache'}\n`)
  return missing ? 1 : 0
}

function m(t: { upstream: string; repo: string; tag: string }): string {
  return `${t.upstream}/${t.repo}:${t.tag}`
}
