// The registry map turned into upstreams the router can match against.

export interface Upstream {
  /** The map key (`gcr`, `docker`, `default`, …). */
  key: string
  /** Base URL; requests go to `<base>/v2/…`. */
  url: URL
  /** Docker Hub expands single-segment names to `library/<name>`. */
  dockerHub: boolean
}

const hubHosts = new Set(['registry-1.docker.io', 'index.docker.io', 'docker.io', 'registry.hub.docker.com'])

export function isDockerHubUrl(u: URL): boolean {
  return hubHosts.has(u.hostname.toLowerCase())
}

/** `host[:port]` as clients name a registry in `?ns=`; default ports omitted. */
export function registryHost(u: URL): string {
  return u.host.toLowerCase()
}

/**
 * What identifies an upstream to the shared blob cache: its base URL. Two map
 * entries naming the same URL reach the same registry with the same
 * credentials, so they share what it delivered; any other URL is another
 * upstream (lib/cache/origins.ts).
 */
export function upstreamSource(u: Upstream): string {
  return u.url.href.replace(/\/$/, '')
}

export interface UpstreamSetOptions {
  /** Extra upstream keys to treat as Docker Hub (tests stand one up on loopback). */
  dockerHubKeys?: string[]
}

export class UpstreamSet {
  readonly byKey = new Map<string, Upstream>()
  readonly default: Upstream | undefined

  constructor(map: Record<string, string>, opts: UpstreamSetOptions = {}) {
    const extraHub = new Set(opts.dockerHubKeys ?? [])
    for (const [key, raw] of Object.entries(map)) {
      const url = new URL(raw)
      this.byKey.set(key.toLowerCase(), {
        key,
        url,
        dockerHub: isDockerHubUrl(url) || extraHub.has(key),
      })
    }
    const d = this.byKey.get('default')
    // `default` pointing at the same URL as another key is that registry: make
    // it share the Docker Hub trait too.
    if (d && !d.dockerHub) {
      for (const u of this.byKey.values()) {
        if (u !== d && u.dockerHub && u.url.href === d.url.href) d.dockerHub = true
      }
    }
    this.default = d
  }

  /** Finds the upstream a containerd `?ns=` names; `docker.io` means Docker Hub. */
  byNamespace(ns: string): Upstream | undefined {
    const want = ns.toLowerCase()
    const candidates = [...this.byKey.values()]
    const exact = candidates.filter((u) => registryHost(u.url) === want)
    const pick = (list: Upstream[]) => list.find((u) => u.key !== 'default') ?? list[0]
    if (exact.length) return pick(exact)
    if (hubHosts.has(want)) {
      const hub = candidates.filter((u) => u.dockerHub)
      if (hub.length) return pick(hub)
    }
    return undefined
  }

  toJSON(): Record<string, string> {
    const out: Record<string, string> = {}
    for (const u of this.byKey.values()) out[u.key] = u.url.href.replace(/\/$/, '')
    return out
  }
}
