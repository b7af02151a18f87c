// Host (and containerd's ?ns=) → upstream. protocol.md §1–3.
import { nameUnknown, ProxyError } from '../errors.js'
import type { Upstream, UpstreamSet } from './upstreams.js'

/** Lowercases and strips the port, including from `[v6]:port` literals. */
export function normaliseHost(host: string | undefined): string {
  if (!host) return ''
  let h = host.trim().toLowerCase()
  if (h.startsWith('[')) {
    const end = h.indexOf(']')
    return end === -1 ? h : h.slice(0, end + 1)
  }
  const colon = h.lastIndexOf(':')
  if (colon !== -1 && h.indexOf(':') === colon) h = h.slice(0, colon)
  return h.replace(/\.$/, '')
}

export interface RouteInput {
  host: string | undefined
  ns: string | null
}

export class Router {
  constructor(
    private readonly upstreams: UpstreamSet,
    private readonly suffix: string,
  ) {}

  /** The upstream for a request, or a ProxyError (404) to send back. */
  resolve({ host, ns }: RouteInput): Upstream | ProxyError {
    const h = normaliseHost(host)
    const suffix = this.suffix.toLowerCase().replace(/^\./, '')
    if (suffix && h.endsWith('.' + suffix)) {
      const key = h.slice(0, -(suffix.length + 1))
      const u = this.upstreams.byKey.get(key)
      if (u) return u
      return nameUnknown(`no registry is configured for host ${h}`, { host: h })
    }
    if (ns !== null && ns !== '') {
      const u = this.upstreams.byNamespace(ns)
      if (u) return u
      // Never the default: that would hand out another registry's image
      // under the same name; a 404 lets containerd fall back to the registry.
      return nameUnknown(`registry ${ns} is not mirrored here`, { ns })
    }
    if (this.upstreams.default) return this.upstreams.default
    return nameUnknown('no default registry is configured', { host: h })
  }
}

/** Docker Hub: a single-segment name means `library/<name>`. */
export function upstreamName(u: Upstream, name: string): string {
  return u.dockerHub && !name.includes('/') ? `library/${name}` : name
}
