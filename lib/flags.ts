// Every flag in one table: parsing, environment variables and --help are all
// generated from it, so they cannot drift apart.
import minimist from 'minimist'
import { ConfigError } from './config.js'

export interface FlagSpec {
  name: string
  type: 'string' | 'boolean'
  default?: string | boolean
  arg?: string
  help: string
  /** Read from the command line only: a stray variable in a service's environment must not turn a start into an exit 0. */
  flagOnly?: boolean
}

export const flags: FlagSpec[] = [
  { name: 'listen', type: 'string', default: ':5000', arg: '[host]:port', help: 'address to listen on' },
  { name: 'domain-suffix', type: 'string', default: '', arg: 'suffix', help: 'route <key>.<suffix> to the map entry <key> (e.g. mirror.example.com)' },
  { name: 'registry-map', type: 'string', arg: 'path|url', help: 'registry map: a JSON file or http(s) URL of name → upstream URL (default: the embedded registrymap.json)' },
  { name: 'default-registry', type: 'string', arg: 'url', help: "upstream for IPs, the bare suffix and unknown hosts; overrides the map's \"default\"" },
  { name: 'cache-dir', type: 'string', arg: 'dir', help: 'cache blobs in this directory (content-addressed, verified); no caching when empty' },
  { name: 'cache-max-size', type: 'string', default: '0', arg: 'size', help: 'bound the cache dir: blobs and manifests together (500MiB, 50GiB, 2TB); the least recently used are evicted; 0 = unbounded' },
  { name: 'verify-on-serve', type: 'boolean', default: true, help: 'check the SHA-256 of cached blobs as they are served (--no-verify-on-serve to skip on a checksumming filesystem)' },
  { name: 'verify-every-serve', type: 'boolean', default: false, help: 'with --verify-on-serve, hash every serve; by default a file this process already verified whole, and unchanged on disk since, is not hashed again' },
  { name: 'connect-timeout', type: 'string', default: '5s', arg: 'duration', help: 'upstream connect timeout (TCP, TLS and proxy tunnel)' },
  { name: 'header-timeout', type: 'string', default: '30s', arg: 'duration', help: 'upstream time to response headers' },
  { name: 'idle-timeout', type: 'string', default: '30s', arg: 'duration', help: 'upstream body idle timeout' },
  { name: 'upstream-max-sockets', type: 'string', default: '32', arg: 'n', help: 'connections per upstream origin' },
  { name: 'upstream-sockets-per-client', type: 'string', default: '', arg: 'n', help: 'connections of one upstream origin a client address may hold at once; its further requests wait (default: half of --upstream-max-sockets, rounded up; behind a reverse proxy set it to --upstream-max-sockets)' },
  { name: 'upstream-queue-timeout', type: 'string', default: '10s', arg: 'duration', help: 'how long a request may wait for a connection to its upstream; then it is answered 503 with Retry-After; 0 = no limit' },
  { name: 'fill-timeout', type: 'string', default: '60s', arg: 'duration', help: 'how long a cache fill may stall after its client disconnected' },
  { name: 'follow-timeout', type: 'string', default: '5s', arg: 'duration', help: "how long a pull of a blob another request is fetching from the same upstream waits without progress before it fetches on its own" },
  { name: 'grant-ttl', type: 'string', default: '5m', arg: 'duration', help: 'how long an upstream-accepted credential may be served cached blobs without asking again' },
  { name: 'stale-if-error', type: 'string', default: '0', arg: 'duration', help: 'with --cache-dir: when the upstream is down, times out or answers 429/5xx, serve a tag resolved within this long (24h, 90m) from the cache, marked stale; 0 = off' },
  { name: 'trust-proxy', type: 'boolean', default: false, help: 'honour X-Forwarded-Proto/-Host from a reverse proxy in front of crproxy' },
  { name: 'max-conns-per-client', type: 'string', default: '256', arg: 'n', help: 'concurrent connections per client address; more are closed at once (plain HTTP: after a 429 with Retry-After); 0 = unbounded' },
  { name: 'max-upstream-inflight', type: 'string', default: '1024', arg: 'n', help: 'upstream requests in flight in all; more are answered 503 with Retry-After; 0 = unbounded' },
  { name: 'redirect-allow', type: 'string', default: '', arg: 'hosts', help: 'hosts (name, .suffix, IP, CIDR, optional :port; comma-separated) that redirects and token realms may reach on private, loopback or link-local addresses, other ports of the upstream host included' },
  { name: 'failover-backoff', type: 'string', default: '1s', arg: 'duration', help: 'in a map entry listing several upstreams: how long one that failed (connect, timeout, 5xx, 429, rate limit spent) is left alone before it is probed; doubles with each failure in a row' },
  { name: 'failover-backoff-max', type: 'string', default: '60s', arg: 'duration', help: 'the most --failover-backoff doubles to' },
  { name: 'policy', type: 'string', arg: 'path', help: 'pull policy: a JSON (or .yaml) file of allow/deny rules by map key, repository glob and tag glob; reloaded on SIGHUP' },
  { name: 'log-format', type: 'string', default: 'text', arg: 'text|json', help: 'log line format' },
  { name: 'auth-file', type: 'string', arg: 'path', help: 'Docker config.json with upstream credentials, used for clients that send none (every client then reads what they can)' },
  { name: 'tls-cert', type: 'string', arg: 'path', help: 'serve HTTPS with this PEM certificate (chain); reloaded on SIGHUP' },
  { name: 'tls-key', type: 'string', arg: 'path', help: 'PEM private key for --tls-cert' },
  { name: 'tls-handshake-timeout', type: 'string', default: '10s', arg: 'duration', help: 'with --tls-cert: how long a client may take to complete the TLS handshake' },
  { name: 'shutdown-grace', type: 'string', default: '25s', arg: 'duration', help: 'on SIGTERM/SIGINT: how long requests in flight may take to finish; then each is cut and logged (fits the 30 s systemd, Compose and Kubernetes allow)' },
  { name: 'status', type: 'boolean', default: true, help: 'serve the status page at / and its data at /status.json (--no-status: off, / answers 404)' },
  { name: 'workers', type: 'string', default: '1', arg: 'n|auto', help: 'worker processes sharing the port and cache dir; 0 or auto = one per core' },
  { name: 'help', type: 'boolean', default: false, help: 'show this help', flagOnly: true },
  { name: 'version', type: 'boolean', default: false, help: 'show the version and build time', flagOnly: true },
]

export type ParsedFlags = Record<string, string | boolean | undefined>

export function envName(flag: string): string {
  return 'CRPROXY_' + flag.toUpperCase().replace(/-/g, '_')
}

/**
 * The original Go tool takes `-listen=:8080` and `-cache-dir /x`; minimist
 * would read `-listen` as the short flags l,i,s,t,e,n. Multi-letter single-
 * dash words are rewritten to their double-dash form first.
 */
const stringFlags = new Set(flags.filter((f) => f.type === 'string').map((f) => f.name))

export function normaliseArgv(argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--') {
      out.push(...argv.slice(i))
      break
    }
    if (/^-[A-Za-z][A-Za-z0-9-]+(=.*)?$/s.test(a)) out.push('-' + a)
    else if (a === '-h') out.push('--help')
    else if (a === '-v') out.push('--version')
    else out.push(a)
    // minimist reads a value like `-5` after a string flag as a flag of its own
    // ("unknown flag -5"); keep it as the value, so the value's check names it.
    const next = argv[i + 1]
    const name = /^--?([a-z][a-z0-9-]*)$/.exec(a)?.[1]
    if (next !== undefined && /^-[\d.]/.test(next) && name && stringFlags.has(name)) {
      out[out.length - 1] = `--${name}=${next}`
      i++
    }
  }
  return out
}

function parseBool(v: string, what: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true
  if (/^(0|false|no|off)$/i.test(v)) return false
  throw new ConfigError(`${what}: ${JSON.stringify(v)} is not a boolean`)
}

export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = {}): ParsedFlags {
  const known = new Map(flags.map((f) => [f.name, f]))
  const args = normaliseArgv(argv)
  // Go's flag package accepts `-flag=false` for booleans; minimist needs them as strings.
  const boolEq: ParsedFlags = {}
  const rest: string[] = []
  for (const a of args) {
    const m = /^--([a-z-]+)=(.*)$/s.exec(a)
    const spec = m && known.get(m[1] as string)
    if (m && spec?.type === 'boolean') boolEq[spec.name] = parseBool(m[2] as string, `--${spec.name}`)
    else rest.push(a)
  }
  const unknown: string[] = []
  const parsed = minimist(rest, {
    string: flags.filter((f) => f.type === 'string').map((f) => f.name),
    boolean: flags.filter((f) => f.type === 'boolean').map((f) => f.name),
    unknown: (a) => {
      unknown.push(a)
      return false
    },
  })
  if (unknown.length) {
    const first = unknown[0] as string
    throw new ConfigError(first.startsWith('-') ? `unknown flag ${first.split('=')[0]}` : `unexpected argument ${JSON.stringify(first)}`)
  }
  const out: ParsedFlags = {}
  for (const f of flags) {
    const flagGiven = rest.some((a) => a === `--${f.name}` || a.startsWith(`--${f.name}=`) || a === `--no-${f.name}`)
    const envValue = f.flagOnly ? undefined : env[envName(f.name)]
    let v: string | boolean | undefined
    if (f.name in boolEq) v = boolEq[f.name]
    else if (flagGiven) {
      const raw = parsed[f.name] as unknown
      if (Array.isArray(raw)) throw new ConfigError(`--${f.name} given more than once`)
      v = raw as string | boolean
    } else if (envValue !== undefined && envValue !== '') {
      v = f.type === 'boolean' ? parseBool(envValue, envName(f.name)) : envValue
    } else v = f.default
    if (f.type === 'string' && v !== undefined && typeof v !== 'string') {
      throw new ConfigError(`--${f.name} needs a value (${f.arg ?? 'value'})`)
    }
    out[f.name] = v
  }
  return out
}

export function helpText(): string {
  const lines = [
    'Usage: crproxy [flags]',
    '',
    'A pull-through proxy for container registries: routes by Host (or containerd ?ns=),',
    'passes registry auth through, follows redirects server-side, caches verified blobs.',
    '',
    'Flags (single dash works too: -listen=:8080, -cache-dir /cache):',
  ]
  for (const f of flags) {
    const name = f.type === 'boolean' ? `--${f.name}` : `--${f.name} ${f.arg ?? 'value'}`
    const def = f.default !== undefined && f.default !== '' && f.type === 'string' ? ` (default ${f.default})` : ''
    lines.push(`  ${name.padEnd(34)} ${f.help}${def}`)
    if (!f.flagOnly) lines.push(`  ${''.padEnd(34)} env ${envName(f.name)}`)
  }
  lines.push(
    '',
    'Environment:',
    '  DEBUG=1                            debug logs: upstream requests, redirects, challenge rewrites',
    '  http_proxy, https_proxy, no_proxy  outbound proxy for upstream traffic (CONNECT for https)',
    '',
    'Endpoints: /v2/… (registry API), /token/… (token relay), /healthz, /help, /metrics, / and /status.json (status page)',
    'Signals: SIGTERM/SIGINT drain and stop; SIGHUP re-reads --registry-map, --auth-file and the TLS files',
    '',
    'crproxy config containerd|podman|docker [--suffix s] [--proxy url] [--output-dir dir]',
    '  prints runtime configuration for every registry of the map (crproxy config --help)',
  )
  return lines.join('\n') + '\n'
}
