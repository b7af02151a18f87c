// Where crproxy may open connections: the guard against server-side request
// forgery through redirects and token realms (docs/security.md, "SSRF").
// Every request is made for one configured upstream (a map entry), and the
// decision is that upstream's:
//
//   its own host and port                 always (the operator named it)
//   anything else (CDN, realm, redirect)  a public address: yes
//                                         a loopback, private, link-local, CGNAT,
//                                         ULA, multicast or unspecified address:
//                                         only if --redirect-allow names the host,
//                                         the address or its CIDR (optionally
//                                         with the port)
//
// Public CDNs change names and chain redirects (registry → CDN → regional
// bucket), so public targets are not listed. Another port of the upstream's
// own host is another service the operator never named (on loopback: any
// service of the proxy's own machine), and another map entry's host is that
// entry's, not this one's: both need --redirect-allow. Addresses are never
// learned from connections: a name that resolves to an internal address
// today opens nothing but the host and port it was configured with.
//
// The check runs on the addresses DNS returned, at connect time, so a name
// cannot resolve to a public address when checked and a private one when
// used (DNS rebinding). Through an outbound proxy the proxy resolves names:
// only IP literals and `localhost` are checked there.
import { BlockList, isIP } from 'node:net'
import { bypassesProxy, unbracket } from './proxy-env.js'
import type { EgressOptions } from './types.js'

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

/** Where a configured upstream was named: the one non-public endpoint its requests reach unasked. */
interface OwnEndpoint {
  host: string
  port: number
}

export class EgressPolicy {
  /** Configured upstreams by origin (URL.origin) → the host and port the operator wrote. */
  readonly #upstreams = new Map<string, OwnEndpoint>()
  readonly #allow: string[]

  constructor(opts: EgressOptions) {
    this.setUpstreams(opts.upstreams)
    this.#allow = opts.allow.map((a) => a.trim().toLowerCase()).filter((a) => a !== '')
  }

  /** The configured upstreams changed (registry map reloaded): trust these from now on. */
  setUpstreams(urls: string[]): void {
    this.#upstreams.clear()
    for (const raw of urls) {
      const u = new URL(raw)
      const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port)
      this.#upstreams.set(u.origin, { host: canonicalHost(u.hostname), port })
    }
  }

  /**
   * Is host:port the own endpoint of `upstream` (the origin of the map entry
   * a request is made for)? Reached wherever it resolves: the operator named
   * it. A request made for no configured upstream owns nothing.
   */
  own(upstream: string | undefined, host: string, port: number): boolean {
    const own = upstream === undefined ? undefined : this.#upstreams.get(upstream)
    return own !== undefined && own.port === port && own.host === canonicalHost(host)
  }

  /**
   * May a connection to host:port (not the upstream's own) use this address?
   * Null when it may, else why not: for the log, never for the client (it
   * names what internal names resolve to).
   */
  check(host: string, port: number, address: string): string | null {
    const ip = canonicalIp(address)
    if (isPublicAddress(ip)) return null
    const name = canonicalHost(host)
    if (this.#allow.length && (bypassesProxy(name, port, this.#allow) || bypassesProxy(ip, port, this.#allow))) return null
    const authority = isIP(name) === 6 ? `[${name}]:${port}` : `${name}:${port}`
    return `${ip} is not a public address nor the upstream's own host and port (allow it with --redirect-allow ${authority})`
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
  constructor(host: string, port: number, reason: string) {
    super(`refused to connect to ${isIP(host) === 6 ? `[${host}]` : host}:${port}: ${reason}`)
    this.name = 'EgressDenied'
  }
}
