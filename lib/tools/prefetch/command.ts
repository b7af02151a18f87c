// `crproxy prefetch IMAGE… [-f FILE]`: pulls each image's manifests and
// blobs through a running crproxy, so that the next pull of it is served
// from the cache alone.
//
//   references (args, -f files) ─parse─▶ ?ns= per reference (reference.ts)
//     ─▶ resolve: manifests, platforms chosen (resolve.ts)
//     ─▶ blobs, each once per upstream, --jobs at a time (fetch-blob.ts)
//     ─▶ progress (progress.ts); exit 1 naming whatever failed
//
// Exit codes: 0 all done; 1 an image or blob failed; 2 bad arguments.
import { readFile } from 'node:fs/promises'
import minimist from 'minimist'
import { loadAuthFile, registryKey, type CredentialMap } from '../../auth/auth-file.js'
import { eachLimit } from '../../cache/rebuild.js'
import { ConfigError, parseDuration } from '../../config.js'
import { errnoReason } from '../../errno-reason.js'
import { formatRate, formatSize } from '../format.js'
import { createProgress } from './progress.js'
import { namespaceFor, parseReference, referencesIn, shortName, type ImageReference } from './reference.js'
import { RegistryClient, type Credentials } from './registry-client.js'
import { fetchBlob } from './fetch-blob.js'
import { formatPlatform, hostPlatform, parsePlatform, resolveImage, type BlobRef, type Platform, type ResolvedImage } from './resolve.js'

export interface PrefetchIo {
  env: NodeJS.ProcessEnv
  stdout: (s: string) => void
  stderr: (s: string) => void
  /** stdout is a terminal: draw a progress bar. */
  tty?: boolean
}

export const prefetchUsage = `Usage: crproxy prefetch [flags] IMAGE... [-f FILE]

Pulls each image's manifests and blobs through a running crproxy, so that the
next pull of it is served from the cache.

  IMAGE                    alpine:3.19, library/alpine@sha256:…, ghcr.io/org/app:1
                           (a registry other than the proxy itself is sent as ?ns=)
  -f, --file FILE          references, one a line (# comments); - for stdin; repeatable
  --proxy URL              the crproxy to go through (default http://127.0.0.1:5000;
                           env CRPROXY_PREFETCH_PROXY)
  --platform os/arch[/v]   platform to take from a multi-platform index; repeatable
                           (default: this host's, ${formatPlatform(hostPlatform())})
  --all-platforms          every platform of an index
  --creds user:pass        credentials for private images (all references)
  --auth-file PATH         Docker config.json: credentials by registry
  --jobs N                 blobs pulled at once (default 4)
  --timeout DURATION       fail a request idle this long (default 60s)
`

const KNOWN = new Set(['_', 'file', 'f', 'proxy', 'platform', 'all-platforms', 'creds', 'auth-file', 'jobs', 'timeout', 'help', 'h'])

function list(v: unknown): string[] {
  return v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String)
}

function last(v: unknown): string | undefined {
  const l = list(v)
  return l[l.length - 1]
}

interface Job {
  image: string
  repo: string
  ns: string | null
  blob: BlobRef
  creds?: Credentials
}

export async function prefetchCommand(argv: string[], io: PrefetchIo): Promise<number> {
  let client: RegistryClient | undefined
  try {
    const a = minimist(argv, {
      string: ['file', 'proxy', 'platform', 'creds', 'auth-file', 'jobs', 'timeout'],
      boolean: ['all-platforms', 'help'],
      alias: { f: 'file', h: 'help' },
    })
    const unknown = Object.keys(a).filter((k) => !KNOWN.has(k))
    if (unknown.length) throw new ConfigError(`prefetch: unknown flag ${unknown[0]!.length === 1 ? '-' : '--'}${unknown[0]}`)
    if (a['help']) {
      io.stdout(prefetchUsage)
      return 0
    }

    const raw = a._.map(String)
    for (const file of list(a['file'])) {
      try {
        raw.push(...referencesIn(await readFile(file === '-' ? '/dev/stdin' : file, 'utf8')))
      } catch (err) {
        throw new ConfigError(`prefetch: cannot read ${file}: ${errnoReason(err)}`)
      }
    }
    if (!raw.length) throw new ConfigError('prefetch: name at least one image (or -f FILE)')
    const refs: ImageReference[] = []
    for (const r of raw) {
      const p = parseReference(r)
      if (typeof p === 'string') throw new ConfigError(`prefetch: ${p}`)
      if (!refs.some((x) => x.raw === p.raw)) refs.push(p)
    }

    const proxyArg = last(a['proxy']) ?? io.env['CRPROXY_PREFETCH_PROXY'] ?? 'http://127.0.0.1:5000'
    let proxy: URL
    try {
      proxy = new URL(proxyArg)
    } catch {
      throw new ConfigError(`--proxy: ${JSON.stringify(proxyArg)} is not a URL (e.g. http://127.0.0.1:5000)`)
    }
    if ((proxy.protocol !== 'http:' && proxy.protocol !== 'https:') || proxy.username || proxy.password || (proxy.pathname !== '/' && proxy.pathname !== '')) {
      throw new ConfigError(`--proxy: ${JSON.stringify(proxyArg)}: expected http(s)://host[:port]`)
    }

    if (a['all-platforms'] && list(a['platform']).length) throw new ConfigError('prefetch: --platform and --all-platforms contradict each other: choose one')
    let platforms: Platform[] | 'all' = a['all-platforms'] ? 'all' : []
    if (platforms !== 'all') {
      for (const s of list(a['platform'])) {
        const p = parsePlatform(s)
        if (typeof p === 'string') throw new ConfigError(`--platform: ${p}`)
        platforms.push(p)
      }
      if (!platforms.length) platforms = [hostPlatform()]
    }

    const jobsArg = last(a['jobs']) ?? '4'
    if (!/^\d+$/.test(jobsArg) || Number(jobsArg) < 1 || Number(jobsArg) > 64) throw new ConfigError(`--jobs: expected 1 to 64, got ${JSON.stringify(jobsArg)}`)
    const jobs = Number(jobsArg)
    const timeout = parseDuration(last(a['timeout']) ?? '60s', '--timeout')
    if (timeout < 1) throw new ConfigError('--timeout: expected a duration above 0')

    const credsFor = await credentials(last(a['creds']), last(a['auth-file']), proxy)
    client = new RegistryClient({ proxy, maxSockets: jobs + 1, idleTimeout: timeout })
    return await run(client, refs, proxy, platforms, credsFor, jobs, io)
  } catch (err) {
    io.stderr(`crproxy: ${(err as Error).message}\n`)
    return err instanceof ConfigError ? 2 : 1
  } finally {
    client?.close()
  }
}

/** --creds for every reference, else the auth file's entry for its registry (or for the proxy's host). */
async function credentials(creds: string | undefined, authFile: string | undefined, proxy: URL): Promise<(ref: ImageReference) => Credentials | undefined> {
  if (creds !== undefined) {
    const colon = creds.indexOf(':')
    if (colon < 1) throw new ConfigError('--creds: expected user:password')
    const c = { username: creds.slice(0, colon), password: creds.slice(colon + 1) }
    return () => c
  }
  if (authFile === undefined) return () => undefined
  const map: CredentialMap = (await loadAuthFile(authFile)).credentials
  return (ref) => map.get(registryKey(ref.registry ?? 'docker.io')) ?? map.get(registryKey(proxy.host))
}

async function run(
  client: RegistryClient,
  refs: ImageReference[],
  proxy: URL,
  platforms: Platform[] | 'all',
  credsFor: (ref: ImageReference) => Credentials | undefined,
  jobs: number,
  io: PrefetchIo,
): Promise<number> {
  const progress = createProgress(io.stdout, io.tty === true)
  const failures: string[] = []
  const resolved: ResolvedImage[] = []
  // Manifests first (few and small), so that the totals are known before the bytes flow.
  await eachLimit(refs, Math.min(jobs, 4), async (ref) => {
    const ns = namespaceFor(ref, proxy)
    try {
      const img = await resolveImage(client, ref, ns, { platforms, creds: credsFor(ref) })
      resolved.push(img)
      const bytes = img.blobs.reduce((n, b) => n + b.size, 0)
      const where = img.images.map((i) => i.platform).filter(Boolean).join(', ')
      progress.note(`${ref.raw}: ${img.digest}${where ? ` (${where})` : ''}, ${img.blobs.length} blobs, ${formatSize(bytes)}`)
    } catch (err) {
      failures.push(`${ref.raw}: ${(err as Error).message}`)
      progress.note(`${ref.raw}: FAILED: ${(err as Error).message}`)
    }
  })
  // A blob is cached per upstream (lib/cache/origins.ts): once per ns.
  const queue = new Map<string, Job>()
  for (const img of resolved) {
    for (const blob of img.blobs) {
      const key = `${img.ns ?? ''} ${blob.digest}`
      if (!queue.has(key)) queue.set(key, { image: shortName(img.ref), repo: img.ref.repo, ns: img.ns, blob, creds: credsFor(img.ref) })
    }
  }
  const all = [...queue.values()]
  progress.planned(all.length, all.reduce((n, j) => n + j.blob.size, 0), Math.max(0, ...all.map((j) => j.image.length)))
  await eachLimit(all, jobs, async (j) => {
    const started = Date.now()
    try {
      await fetchBlob(client, j.repo, j.ns, j.blob, j.creds, (n) => progress.bytes(n))
      progress.blobDone(j.image, j.blob, Date.now() - started)
    } catch (err) {
      failures.push(`${j.image} ${j.blob.digest}: ${(err as Error).message}`)
      progress.blobFailed(j.image, j.blob, (err as Error).message)
    }
  })
  const t = progress.finish()
  io.stdout(
    `prefetched ${resolved.length} of ${refs.length} images: ${t.blobs} blobs, ${formatSize(t.bytes)} in ${(t.ms / 1000).toFixed(1)}s (${formatRate(t.bytes, t.ms)})\n`,
  )
  if (!failures.length) return 0
  io.stderr(`crproxy prefetch: ${failures.length} failed:\n${failures.map((f) => `  ${f}\n`).join('')}`)
  return 1
}
