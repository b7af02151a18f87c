// The registry map turned into upstreams the router can match against. An
// entry names one upstream or a chain of them in order (the primary, then
// fallbacks: lib/upstream/failover.ts); everything keyed by the entry (routing,
// the manifest cache, grants) treats the chain as one upstream.
import type { Chain, ChainMember } from '../upstream/chain.js'
import { HealthBoard } from '../upstream/health.js'

export interface Upstream {
  /** The map key (`gcr`, `docker`, `default`, …). */
  key: string
  /** The primary's base URL; requests are built for `<base>/v2/…` and the chain re-aims them per member. */
  url: URL
  /** The primary, then its fallbacks (one member for a plain entry). */
  chain: Chain
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
 * upstream (lib/cache/origins.ts). A chain is one upstream: its members'
 * URLs (sorted, so reordering a chain keeps its cache). A blob any member
 * delivered is a hit for the entry, whose clients any member may answer
 * anyway; an entry naming only some of those URLs is another upstream, so
 * a fallback's blobs never reach clients of an entry without it.
 */
export function upstreamSource(u: Upstream): string {
  const urls = u.chain.members.map((m) => m.base)
  return urls.length === 1 ? urls[0]! : [...new Set(urls)].sort().join(' ')
}

/** A map value: one URL, or a chain of them in order. */
export type UpstreamList = string | string[]

export function memberUrls(v: UpstreamList): string[] {
  return typeof v === 'string' ? [v] : v
}

export interface UpstreamSetOptions {
  /** Extra upstream keys to treat as Docker Hub (tests stand one up on loopback). */
  dockerHubKeys?: string[]
  /** Health of chain members, kept across reloads. */
  health?: HealthBoard
}

export class UpstreamSet {
  readonly byKey = new Map<string, Upstream>()
  readonly default: Upstream | undefined

  readonly health: HealthBoard

  constructor(map: Record<string, UpstreamList>, opts: UpstreamSetOptions = {}) {
    const extraHub = new Set(opts.dockerHubKeys ?? [])
    this.health = opts.health ?? new HealthBoard()
    for (const [key, raw] of Object.entries(map)) {
      const members: ChainMember[] = memberUrls(raw).map((r, index) => {
        const url = new URL(r)
        const base = url.href.replace(/\/$/, '')
        return { id: index === 0 ? key.toLowerCase() : `${key.toLowerCase()}@${index}`, index, url, base, health: this.health.of(base) }
      })
      const url = members[0]!.url
      this.byKey.set(key.toLowerCase(), {
        key,
        url,
        chain: { key, members },
        // The primary says what the entry is: its fallbacks mirror it.
        dockerHub: isDockerHubUrl(url) || extraHub.has(key),
      })
    }
    this.health.retain([...this.byKey.values()].flatMap((u) => u.chain.members.map((m) => m.base)))
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

  /** The map as configured: a URL per entry, or a list for a chain. */
  toJSON(): Record<string, UpstreamList> {
    const out: Record<string, UpstreamList> = {}
    for (const u of this.byKey.values()) {
      const urls = u.chain.members.map((m) => m.base)
      out[u.key] = urls.length === 1 ? urls[0]! : urls
    }
    return out
  }

  /** Every member's URL, for the egress policy. */
  urls(): string[] {
    return [...this.byKey.values()].flatMap((u) => u.chain.members.map((m) => m.base))
  }

  /** /help: a plain entry's URL; for a chain, each member in order with its health. */
  describe(now = Date.now()): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    for (const u of this.byKey.values()) {
      const ms = u.chain.members
      out[u.key] =
        ms.length === 1
          ? ms[0]!.base
          : ms.map((m) => ({
              url: m.base,
              healthy: m.health.healthy,
              ...(m.health.healthy ? {} : { failures: m.health.failures, retry_in_s: Math.max(0, Math.ceil((m.health.retryAt - now) / 1000)), last_error: m.health.lastError }),
            }))
    }
    return out
  }
}
