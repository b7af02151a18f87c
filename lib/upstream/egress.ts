// Where crproxy may open connections: the guard against server-side request
// forgery through redirects and token realms (docs/security.md, "SSRF").
//
//   configured upstream origin            always (the operator named it)
//   anything else (CDN, realm, redirect)  a public address: yes
//                                         a loopback, private, link-local, CGNAT,
//                                         ULA, multicast or unspecified address:
//                                         only if it is a configured upstream's
//                                         own host (literally, or an address one
//                                         of them resolved to), or --redirect-allow
//                                         names the host, the address or its CIDR
//
// Public CDNs change names and chain redirects (registry → CDN → regional
// bucket), so public targets are not listed; an upstream's CDN or token
// server on the upstream's own machine (distribution + MinIO on one host)
// needs no configuration. The check runs on the addresses DNS returned, at
// connect time, so a name cannot resolve to a public address when checked
// and a private one when used (DNS rebinding). Through an outbound proxy the
// proxy resolves names: only IP literals and `localhost` are checked there.
import { BlockList, isIP } from 'node:net'
import { bypassesProxy, unbracket } from './proxy-env.js'

export interface EgressOptions {
  /** Base URLs of the configured upstreams. */
  upstreams: string[]
  /** --redirect-allow: host, .suffix, *.suffix, IP or CIDR, each optionally :port (as no_proxy). */
  allow: string[]
}

const nonPublic = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // RFC 1918
  ['100.64.0.0', 10], // CGNAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // RFC 1918
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.168.0.0', 16], // RFC 1918
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) {
  nonPublic.addSubnet(net, prefix, 'ipv4')
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['100::', 64], // discard
  ['2001:db8::', 32], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const) {
  nonPublic.addSubnet(net, prefix, 'ipv6')
}

/** An IPv4 address hidden in an IPv6 one (mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96), or the address itself. */
export function canonicalIp(ip: string): string {
  const lower = unbracket(ip).toLowerCase()
  const mapped = /^(?:::ffff:(?:0:)?|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower)
  if (mapped) return mapped[1]!
  const hex = /^(?:::ffff:(?:0:)?|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower)
  if (hex) {
    const hi = parseInt(hex[1]!, 16)
    const lo = parseInt(hex[2]!, 16)
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`
  }
  return lower
}

/** True for an address on the public internet; false for anything else (and for non-IPs). */
export function isPublicAddress(ip: string): boolean {
  const addr = canonicalIp(ip)
  const family = isIP(addr)
  if (family === 0) return false
  return !nonPublic.check(addr, family === 4 ? 'ipv4' : 'ipv6')
}

export class EgressPolicy {
  readonly #origins = new Set<string>()
  /** Host names and IP literals of configured upstreams, as written. */
  readonly #hosts = new Set<string>()
  /** Addresses configured upstreams were reached at. */
  readonly #learned = new Set<string>()
  readonly #allow: string[]

  constructor(opts: EgressOptions) {
    this.setUpstreams(opts.upstreams)
    this.#allow = opts.allow.map((a) => a.trim().toLowerCase()).filter((a) => a !== '')
  }

  /** The configured upstreams changed (registry map reloaded): trust these, learn their addresses anew. */
  setUpstreams(urls: string[]): void {
    this.#origins.clear()
    this.#hosts.clear()
    this.#learned.clear()
    for (const raw of urls) {
      const u = new URL(raw)
      this.#origins.add(u.origin)
      this.#hosts.add(canonicalHost(u.hostname))
    }
  }

  /** A configured upstream's origin: reachable wherever it is. */
  trusted(origin: string): boolean {
    return this.#origins.has(origin)
  }

  /** Remembers an address a configured upstream was reached at. */
  learn(address: string | undefined): void {
    if (address) this.#learned.add(canonicalIp(address))
  }

  /**
   * May a connection to host:port (not a configured upstream) use this
   * address? Null when it may, else why not.
   */
  check(host: string, port: number, address: string): string | null {
    const ip = canonicalIp(address)
    if (isPublicAddress(ip)) return null
    const name = canonicalHost(host)
    if (this.#hosts.has(name) || this.#learned.has(ip)) return null
    if (this.#allow.length && (bypassesProxy(name, port, this.#allow) || bypassesProxy(ip, port, this.#allow))) return null
    return `${ip} is not a public address and not a configured upstream's (allow it with --redirect-allow)`
  }

  /** For hosts whose address is not known here (outbound proxy): literal IPs and localhost only. */
  checkName(host: string, port: number): string | null {
    const name = canonicalHost(host)
    if (isIP(canonicalIp(name)) !== 0) return this.check(name, port, name)
    if (name === 'localhost' || name.endsWith('.localhost')) return this.check(name, port, '127.0.0.1')
    return null
  }
}

function canonicalHost(host: string): string {
  const h = unbracket(host).toLowerCase().replace(/\.$/, '')
  return isIP(h) !== 0 ? canonicalIp(h) : h
}

export class EgressDenied extends Error {
  readonly code = 'EEGRESS'
  constructor(host: string, reason: string) {
    super(`refused to connect to ${host}: ${reason}`)
    this.name = 'EgressDenied'
  }
}
