// Outbound proxy settings from the environment, and the no_proxy decision.
//
// Matching follows Go's golang.org/x/net/http/httpproxy, which is what the
// container tooling around us (docker, containerd) uses, so one no_proxy value
// means the same thing to all of them:
//   '*'            every host bypasses the proxy
//   'foo.com'      foo.com and any subdomain of it
//   '.foo.com'     subdomains of foo.com only ('*.foo.com' is the same)
//   '10.0.0.0/8'   IP literals inside the CIDR block
//   '1.2.3.4'      that IP literal
//   any of the above with ':port' applies to that port only.
// Unlike Go, localhost and loopback addresses are not bypassed implicitly:
// list them in no_proxy if they must be.

import { BlockList, isIP } from 'node:net'
import type { ProxyEnv } from './types.js'

/**
 * Reads http_proxy / https_proxy / no_proxy; the lowercase spelling wins over
 * the uppercase one when both are set and non-empty. A value without a scheme
 * ('proxy:3128') means http://. Throws a TypeError naming the variable when a
 * value is not an http:// URL, so a typo fails at startup instead of going
 * direct.
 */
export function proxyEnvFromProcess(env: NodeJS.ProcessEnv): ProxyEnv {
  const out: ProxyEnv = { noProxy: splitNoProxy(pick(env, 'no_proxy') ?? '') }
  const http = pick(env, 'http_proxy')
  const https = pick(env, 'https_proxy')
  if (http !== undefined) out.http = parseProxyUrl(http, 'http_proxy')
  if (https !== undefined) out.https = parseProxyUrl(https, 'https_proxy')
  return out
}

function pick(env: NodeJS.ProcessEnv, lower: string): string | undefined {
  const l = env[lower]?.trim()
  if (l) return l
  const u = env[lower.toUpperCase()]?.trim()
  return u ? u : undefined
}

function parseProxyUrl(value: string, name: string): URL {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch (err) {
    throw new TypeError(`${name} is not a valid URL: ${value}`, { cause: err })
  }
  // TLS to the proxy itself (https://) and SOCKS are not implemented.
  if (url.protocol !== 'http:') throw new TypeError(`${name}: only http:// proxies are supported, got ${url.protocol}`)
  return url
}

export function splitNoProxy(value: string): string[] {
  return value
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '')
}

/** The proxy to use for url, or null to go direct. */
export function proxyFor(url: URL, env: ProxyEnv | undefined): URL | null {
  if (env === undefined) return null
  const proxy = url.protocol === 'https:' ? env.https : url.protocol === 'http:' ? env.http : undefined
  if (proxy === undefined) return null
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port)
  return bypassesProxy(unbracket(url.hostname), port, env.noProxy) ? null : proxy
}

/** True when host:port matches an entry of no_proxy. host is without brackets. */
export function bypassesProxy(host: string, port: number, noProxy: readonly string[]): boolean {
  host = host.toLowerCase().replace(/\.$/, '')
  for (const raw of noProxy) {
    if (raw === '*') return true
    const entry = splitPort(raw.trim().toLowerCase())
    if (entry === null) continue
    if (entry.port !== null && entry.port !== port) continue
    if (matchesHost(host, entry.host)) return true
  }
  return false
}

function matchesHost(host: string, pattern: string): boolean {
  const slash = pattern.indexOf('/')
  if (slash !== -1) return inCidr(host, pattern.slice(0, slash), Number(pattern.slice(slash + 1)))
  if (isIP(pattern) !== 0) return isIP(host) !== 0 && sameIp(host, pattern)
  if (pattern.startsWith('*.')) pattern = pattern.slice(1)
  if (pattern.startsWith('.')) return host.endsWith(pattern)
  pattern = pattern.replace(/\.$/, '')
  return host === pattern || host.endsWith(`.${pattern}`)
}

function inCidr(host: string, net: string, prefix: number): boolean {
  const family = isIP(net)
  if (family === 0 || isIP(host) !== family || !Number.isInteger(prefix)) return false
  const type = family === 4 ? 'ipv4' : 'ipv6'
  const list = new BlockList()
  try {
    list.addSubnet(net, prefix, type)
  } catch {
    return false
  }
  return list.check(host, type)
}

function sameIp(a: string, b: string): boolean {
  const family = isIP(a)
  if (family !== isIP(b)) return false
  const type = family === 4 ? 'ipv4' : 'ipv6'
  const list = new BlockList()
  list.addAddress(b, type)
  return list.check(a, type)
}

/** 'host', 'host:port', '[v6]', '[v6]:port', or a bare v6 literal. Null if unusable. */
function splitPort(entry: string): { host: string; port: number | null } | null {
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close === -1) return null
    const rest = entry.slice(close + 1)
    const port = rest.startsWith(':') ? Number(rest.slice(1)) : null
    if (port !== null && !Number.isInteger(port)) return null
    return { host: entry.slice(1, close), port }
  }
  if (isIP(entry) === 6 || entry.includes('/')) return { host: entry, port: null }
  const colon = entry.lastIndexOf(':')
  if (colon === -1) return { host: entry, port: null }
  const port = Number(entry.slice(colon + 1))
  if (!Number.isInteger(port)) return null
  return { host: entry.slice(0, colon), port }
}

export function unbracket(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
}
