// `crproxy config containerd|podman|docker`: prints the runtime configuration
// that points a node at this proxy, for every registry of the effective
// registry map. Pure renderers plus one small command that prints them, or
// with --output-dir writes them as files (containerd, podman).
//
//   registry map ─▶ one entry per upstream registry (Docker Hub as docker.io)
//                ─▶ mirror host: <key>.<suffix>[:port]  (or the proxy's own
//                   host without a suffix: containerd sends ?ns=, the others
//                   then reach the default registry only)
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import minimist from 'minimist'
import { errnoReason } from './errno-reason.js'
import { ConfigError, type RegistryMap, validateUpstreamUrl } from './config.js'
import { normaliseArgv } from './flags.js'
import { isDockerHubUrl, registryHost } from './registry/upstreams.js'

export type Runtime = 'containerd' | 'podman' | 'docker'

export interface MirrorEntry {
  /** Map key the mirror host routes to. */
  key: string
  /** The registry as runtimes name it: `docker.io`, `gcr.io`, `localhost:5000`. */
  registry: string
  /** containerd's `server`: where the registry itself answers. */
  server: string
  /** `host[:port]` clients use for this registry on the proxy. */
  mirror: string
  dockerHub: boolean
  /** true for the map's `default` entry (reached without a suffix too). */
  isDefault: boolean
}

export interface ConfigOutputOptions {
  map: RegistryMap
  /** `--domain-suffix` of the proxy; '' when it runs without one. */
  suffix: string
  /** How clients reach the proxy: scheme and port are taken from it. */
  proxy: URL
}

/** One entry per registry; `default` is folded into the key that shares its URL. */
export function mirrorEntries(opts: ConfigOutputOptions): MirrorEntry[] {
  const port = opts.proxy.port ? `:${opts.proxy.port}` : ''
  const defaultUrl = primary(opts.map['default'])
  const byRegistry = new Map<string, MirrorEntry>()
  // Named keys first, so `docker` wins over `default` for the same registry.
  const keys = Object.keys(opts.map).sort((a, b) => Number(a === 'default') - Number(b === 'default'))
  for (const key of keys) {
    const url = new URL(primary(opts.map[key])!)
    const dockerHub = isDockerHubUrl(url)
    const registry = dockerHub ? 'docker.io' : registryHost(url)
    if (byRegistry.has(registry)) {
      if (key === 'default') byRegistry.get(registry)!.isDefault = true
      continue
    }
    // Without a suffix every registry is the proxy's own host (URL.host keeps
    // brackets and an explicit port).
    const mirror = !opts.suffix ? opts.proxy.host : (key === 'default' ? opts.suffix : `${key}.${opts.suffix}`) + port
    byRegistry.set(registry, {
      key,
      registry,
      server: dockerHub ? 'https://registry-1.docker.io' : url.origin,
      mirror,
      dockerHub,
      isDefault: key === 'default' || primary(opts.map[key]) === defaultUrl,
    })
  }
  return [...byRegistry.values()]
}

/** A chain's primary: the registry clients name (its fallbacks mirror it). */
function primary(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

function insecure(opts: ConfigOutputOptions): boolean {
  return opts.proxy.protocol === 'http:'
}

function scheme(opts: ConfigOutputOptions): string {
  return opts.proxy.protocol.replace(/:$/, '')
}

const q = (s: string) => JSON.stringify(s)

/** A file of a runtime's configuration: its path under the runtime's directory, and its text. */
export interface ConfigFile {
  /** e.g. `docker.io/hosts.toml`, under `dir`. */
  path: string
  /** Where the runtime reads it from, e.g. /etc/containerd/certs.d. */
  dir: string
  text: string
}

/** containerd 1.5+: one hosts.toml per registry under /etc/containerd/certs.d/. */
export function containerdFiles(opts: ConfigOutputOptions): ConfigFile[] {
  return mirrorEntries(opts).map((e) => ({
    dir: '/etc/containerd/certs.d',
    path: `${e.registry}/hosts.toml`,
    text: [`server = ${q(e.server)}`, '', `[host.${q(`${scheme(opts)}://${e.mirror}`)}]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
  }))
}

export function containerdHosts(opts: ConfigOutputOptions): string {
  return containerdFiles(opts)
    .map((f) => `# ${f.dir}/${f.path}\n${f.text}`)
    .join('\n')
}

/** podman, CRI-O, skopeo, buildah: a registries.conf drop-in. */
export function podmanRegistries(opts: ConfigOutputOptions): string {
  const f = podmanFile(opts)
  return `# ${f.dir}/${f.path}\n${f.text}`
}

export function podmanFile(opts: ConfigOutputOptions): ConfigFile {
  let entries = mirrorEntries(opts)
  const lines: string[] = []
  if (!opts.suffix) {
    // No ?ns= from these clients: one host name can only serve `default`.
    entries = entries.filter((e) => e.isDefault)
    lines.push('# without --suffix only the default registry can be mirrored (podman sends no ?ns=)')
  }
  for (const e of entries) {
    lines.push('', '[[registry]]', `location = ${q(e.registry)}`, '', '[[registry.mirror]]', `location = ${q(e.mirror)}`)
    if (insecure(opts)) lines.push('insecure = true')
  }
  return { dir: '/etc/containers/registries.conf.d', path: 'crproxy.conf', text: lines.join('\n') + '\n' }
}

/** The Docker daemon mirrors Docker Hub only; other registries are named by their mirror host. */
export function dockerDaemon(opts: ConfigOutputOptions): { json: string; note?: string } {
  const entries = mirrorEntries(opts)
  const reachable = opts.suffix ? entries : entries.filter((e) => e.isDefault)
  const hub = reachable.find((e) => e.dockerHub)
  const daemon: Record<string, string[]> = { 'registry-mirrors': hub ? [`${scheme(opts)}://${hub.mirror}`] : [] }
  if (insecure(opts)) daemon['insecure-registries'] = [...new Set(reachable.map((e) => e.mirror))]
  const note = hub ? undefined : 'no Docker Hub entry is reachable through this proxy: registry-mirrors is empty'
  return { json: JSON.stringify(daemon, null, 2) + '\n', note }
}

export function renderConfig(runtime: Runtime, opts: ConfigOutputOptions): { text: string; note?: string } {
  if (runtime === 'containerd') return { text: containerdHosts(opts) }
  if (runtime === 'podman') return { text: podmanRegistries(opts) }
  const d = dockerDaemon(opts)
  return { text: d.json, note: d.note }
}

export interface ConfigCommandIo {
  env: NodeJS.ProcessEnv
  stdout: (s: string) => void
  stderr: (s: string) => void
}

export const configUsage = `Usage: crproxy config containerd|podman|docker [--suffix s] [--proxy url]
                      [--registry-map path|url] [--default-registry url] [--output-dir dir]

Prints the runtime configuration for every registry of the registry map:
  containerd  one /etc/containerd/certs.d/<registry>/hosts.toml per registry
  podman      a registries.conf drop-in ([[registry]] + [[registry.mirror]])
  docker      /etc/docker/daemon.json (registry-mirrors: Docker Hub only)

  --suffix s      the proxy's --domain-suffix (env CRPROXY_DOMAIN_SUFFIX)
  --proxy url     how clients reach the proxy (default http://localhost:5000);
                  http → insecure entries, https → none
  --output-dir d  containerd, podman: write the files under d (d stands for
                  /etc/containerd/certs.d or /etc/containers/registries.conf.d)
                  and list what was written, instead of printing them; docker:
                  not offered (daemon.json holds other settings: merge by hand)
`

/** Runs the subcommand; returns the exit code. `loadMap` reads a map like the proxy does. */
export async function configCommand(
  argv: string[],
  io: ConfigCommandIo,
  loadMap: (source: string | undefined) => Promise<RegistryMap>,
): Promise<number> {
  try {
    const unknown: string[] = []
    const a = minimist(normaliseArgv(argv), {
      string: ['suffix', 'domain-suffix', 'proxy', 'registry-map', 'default-registry', 'output-dir'],
      boolean: ['help'],
      unknown: (s) => {
        if (!s.startsWith('-')) return true
        unknown.push(s)
        return false
      },
    })
    if (a['help']) {
      io.stdout(configUsage)
      return 0
    }
    if (unknown.length) throw new ConfigError(`config: unknown flag ${(unknown[0] as string).split('=')[0]}`)
    const [runtime, ...extra] = a._.map(String)
    if (runtime !== 'containerd' && runtime !== 'podman' && runtime !== 'docker') {
      throw new ConfigError(`config: expected containerd, podman or docker, got ${JSON.stringify(runtime ?? '')}`)
    }
    if (extra.length) throw new ConfigError(`config: unexpected argument ${JSON.stringify(extra[0])}`)
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined)
    const outputDir = str(a['output-dir'])
    if (a['output-dir'] !== undefined && !outputDir) throw new ConfigError('config: --output-dir needs a directory')
    if (outputDir && runtime === 'docker') {
      throw new ConfigError('config docker: --output-dir does not apply: /etc/docker/daemon.json holds other settings; merge the printed keys into it')
    }
    const suffix = (str(a['suffix']) ?? str(a['domain-suffix']) ?? io.env['CRPROXY_DOMAIN_SUFFIX'] ?? '')
      .toLowerCase()
      .replace(/^\.+|\.+$/g, '')
    const proxyRaw = str(a['proxy']) ?? 'http://localhost:5000'
    const proxy = new URL(validateUpstreamUrl(proxyRaw, 'config --proxy'))
    const map = { ...(await loadMap(str(a['registry-map']) ?? str(io.env['CRPROXY_REGISTRY_MAP']))) }
    const defaultRegistry = str(a['default-registry']) ?? str(io.env['CRPROXY_DEFAULT_REGISTRY'])
    if (defaultRegistry) map['default'] = validateUpstreamUrl(defaultRegistry, '--default-registry')
    if (outputDir) {
      const files = runtime === 'containerd' ? containerdFiles({ map, suffix, proxy }) : [podmanFile({ map, suffix, proxy })]
      for (const f of files) {
        const path = join(outputDir, f.path)
        try {
          await mkdir(dirname(path), { recursive: true })
          await writeFile(path, f.text)
        } catch (err) {
          throw new ConfigError(`config: cannot write ${path}: ${errnoReason(err)}`)
        }
        io.stdout(`wrote ${path}  (${f.dir}/${f.path})\n`)
      }
      return 0
    }
    const out = renderConfig(runtime, { map, suffix, proxy })
    io.stdout(out.text)
    if (out.note) io.stderr(`crproxy config: ${out.note}\n`)
    return 0
  } catch (err) {
    io.stderr(`crproxy: ${(err as Error).message}\n`)
    return err instanceof ConfigError ? 2 : 1
  }
}
