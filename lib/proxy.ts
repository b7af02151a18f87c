// Assembles a running proxy from a validated configuration: the one place
// where the parts are wired together, used by the CLI and by tests.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AccessGrants } from './auth/grants.js'
import type { CredentialMap } from './auth/auth-file.js'
import { UpstreamCredentials } from './auth/upstream-credentials.js'
import { BlobCache } from './cache/blob-cache.js'
import { ManifestCache } from './manifests/manifest-cache.js'
import type { RegistryMap } from './config.js'
import type { ProxyDeps } from './context.js'
import type { Logger } from './log.js'
import { Metrics } from './metrics.js'
import { RealmRegistry } from './registry/realms.js'
import { Router } from './registry/route.js'
import { UpstreamSet } from './registry/upstreams.js'
import { createProxyServer } from './server.js'
import { HashWorkerPool } from './integrity/hash-worker.js'
import { SlotPool } from './upstream/slot-pool.js'
import { FollowRedirects } from './upstream/redirects.js'
import { TimedTransport } from './upstream/timed-transport.js'
import { nodeSnapshots } from './status/cluster-snapshots.js'
import { processSnapshot, statusRecorders } from './status/recorders.js'
import { ensureUsableCacheDir } from './cache/usable-dir.js'
import { InflightRequests, type ShutdownSummary } from './inflight-requests.js'
import { UpstreamClient } from './upstream/client.js'
import { DEFAULT_BACKOFF, HealthBoard, type BackoffOptions } from './upstream/health.js'
import { HealthProbe } from './upstream/probe.js'
import { RateLimitWatch } from './upstream/rate-limit-watch.js'
import { TokenOwners } from './upstream/token-owners.js'
import { ChainTransport, failoverCounter, type FailoverDeps } from './upstream/failover.js'
import { policyDenialCounter, type Policy } from './policy/policy.js'
import type { UpstreamClientOptions } from './upstream/types.js'

export interface ProxyConfig {
  registryMap: RegistryMap
  /** Overrides the map's `default`. */
  defaultRegistry?: string
  domainSuffix: string
  cacheDir?: string
  /** Bytes; 0 = unbounded. */
  cacheMaxSize: number
  verifyOnServe: boolean
  /** `--verify-every-serve`: hash even files already verified and unchanged since. */
  verifyEveryServe?: boolean
  /** ms a fill goes on idle after its client left. */
  fillTimeout: number
  /** `--follow-timeout`: ms a follower of another request's fill may see no progress before it fetches on its own (default 5 s). */
  followTimeout?: number
  /** ms an accepted credential lets cached blobs be served without asking upstream. */
  grantTtl: number
  /** `--stale-if-error`: ms a tag's last resolution may be served when the upstream fails; 0/absent = off. */
  staleIfError?: number
  client: UpstreamClientOptions
  trustProxy: boolean
  log: Logger
  /** Map keys to treat as Docker Hub beyond the real hosts (tests run one on loopback). */
  dockerHubKeys?: string[]
  headersTimeout?: number
  keepAliveTimeout?: number
  /** `--auth-file`: operator credentials for clients that send none (/v2 only). */
  upstreamCredentials?: CredentialMap
  /** `--tls-cert`/`--tls-key`: serve HTTPS; realms are rewritten to https. */
  tls?: { cert: Buffer; key: Buffer }
  /** `--tls-handshake-timeout`: ms a TLS client may take to complete its handshake (default 10 s). */
  tlsHandshakeTimeout?: number
  /** `--redirect-allow`: hosts that redirects and token realms may reach on non-public addresses (lib/upstream/egress.ts). */
  redirectAllow?: string[]
  /** `--max-conns-per-client`: concurrent connections per client address (default 256; 0 = unbounded). */
  maxConnsPerClient?: number
  /** `--max-upstream-inflight`: upstream requests in flight in all (default 1024; 0 = unbounded). */
  maxUpstreamInflight?: number
  /** ms a client may take to send a whole request, body included (default 30 s). */
  requestTimeout?: number
  /** ms a client may accept no byte of a response that is waiting to be sent (default 60 s). */
  clientStallTimeout?: number
  /** `--no-status` (false): no status page at / and /status.json (default true). */
  statusPage?: boolean
  /** `--failover-backoff`/`--failover-backoff-max`: how long a failed chain member is left alone (lib/upstream/health.ts). */
  failoverBackoff?: BackoffOptions
  /** `--policy`: which pulls are allowed (lib/policy/). */
  policy?: Policy
}

export interface RunningProxy {
  server: Server
  deps: ProxyDeps
  /** `http://127.0.0.1:<port>` (or the bound host). */
  url: string
  /** What the server is bound to, e.g. `http://0.0.0.0:5000`, for logs. */
  address: string
  port: number
  /** Requests being answered now. */
  inflight(): number
  /** Stops accepting, lets requests in flight finish for `graceMs` (default DEFAULT_SHUTDOWN_GRACE), then cuts them, each logged. */
  close(graceMs?: number): Promise<ShutdownSummary>
}

/**
 * --shutdown-grace: inside the 30 s that systemd (TimeoutStopSec), Compose
 * (stop_grace_period) and Kubernetes (terminationGracePeriodSeconds) give
 * before SIGKILL, with room left to log the cuts and close the cache.
 */
export const DEFAULT_SHUTDOWN_GRACE = 25_000

/** How long a follower waits on a fill that shows no progress (--follow-timeout). */
export const DEFAULT_FOLLOW_TIMEOUT = 5_000

/** Upstream requests in flight (sockets busy or awaited) before new ones get 503 + Retry-After. */
export const DEFAULT_MAX_UPSTREAM_INFLIGHT = 1024

export function effectiveMap(cfg: Pick<ProxyConfig, 'registryMap' | 'defaultRegistry'>): RegistryMap {
  const map = { ...cfg.registryMap }
  if (cfg.defaultRegistry) map['default'] = cfg.defaultRegistry
  return map
}

export async function buildDeps(cfg: ProxyConfig): Promise<ProxyDeps> {
  const metrics = new Metrics()
  const backoff = cfg.failoverBackoff ?? DEFAULT_BACKOFF
  const health = new HealthBoard(backoff, cfg.log.child({ component: 'failover' }), metrics)
  const upstreams = new UpstreamSet(effectiveMap(cfg), { dockerHubKeys: cfg.dockerHubKeys, health })
  // One set of SHA-256 threads for fills, uncached blobs and verify-on-serve.
  // Fills read into these slots, which the hash workers hash in place.
  const hashing = new HashWorkerPool({ slots: new SlotPool() })
  void hashing.warm()
  if (cfg.cacheDir) await ensureUsableCacheDir(cfg.cacheDir)
  // Opened first: the blob cache indexes the manifests' files with its own
  // under --cache-max-size (one LRU for both).
  const manifests = cfg.cacheDir
    ? await ManifestCache.open({ dir: cfg.cacheDir, staleIfError: cfg.staleIfError ?? 0, log: cfg.log, metrics })
    : undefined
  const cache = cfg.cacheDir
    ? await BlobCache.open({
        dir: cfg.cacheDir,
        maxSize: cfg.cacheMaxSize,
        verifyOnServe: cfg.verifyOnServe,
        verifyEveryServe: cfg.verifyEveryServe ?? false,
        fillTimeout: cfg.fillTimeout,
        log: cfg.log.child({ component: 'cache' }),
        metrics,
        hashing,
        tenants: manifests ? [manifests] : [],
      })
    : undefined
  const client = new UpstreamClient({
    ...cfg.client,
    // Redirects and realms reach public addresses, the own host and port of
    // the upstream they are fetched for, or --redirect-allow (docs/security.md).
    egress: { upstreams: upstreams.urls(), allow: cfg.redirectAllow ?? [] },
    maxInflight: cfg.maxUpstreamInflight ?? cfg.client.maxInflight ?? DEFAULT_MAX_UPSTREAM_INFLIGHT,
  })
  const status = statusRecorders({ page: cfg.statusPage ?? true, cacheMaxSize: cfg.cacheDir ? cfg.cacheMaxSize : 0 })
  // The transport chain, built once: every hop of a redirect is timed and,
  // for /v2 requests, gets the --auth-file credentials of its own host; a
  // map entry's chain of upstreams is tried outside the redirects, so a
  // member's CDN failing moves on to the next member.
  const timed = new TimedTransport(client, metrics, status.health)
  const upstreamAuth = cfg.upstreamCredentials
    ? new UpstreamCredentials(timed, cfg.upstreamCredentials, { log: cfg.log.child({ component: 'upstream-auth' }), metrics })
    : undefined
  const failover: FailoverDeps = {
    board: health,
    tokens: new TokenOwners(),
    rateLimits: new RateLimitWatch(metrics, cfg.log.child({ component: 'rate-limit' })),
    failovers: failoverCounter(metrics),
  }
  const probeTick = Math.max(25, Math.min(1000, Math.floor(backoff.initial / 2)))
  return {
    failover,
    // Probes go out bare: no client credentials, no operator ones.
    probe: new HealthProbe(health, timed, cfg.log.child({ component: 'failover' }), { tick: probeTick, timeout: cfg.client.connectTimeout + cfg.client.headerTimeout }),
    policy: cfg.policy,
    policyDenials: policyDenialCounter(metrics),
    upstreams,
    router: new Router(upstreams, cfg.domainSuffix),
    realms: new RealmRegistry(),
    registry: new ChainTransport(new FollowRedirects(upstreamAuth ?? timed), failover),
    tokens: new FollowRedirects(timed),
    upstreamAuth,
    cache,
    manifests,
    hashing,
    grants: new AccessGrants({ ttl: cfg.grantTtl }),
    metrics,
    log: cfg.log,
    trustProxy: cfg.trustProxy,
    tokenBodyLimit: 64 * 1024,
    followTimeout: cfg.followTimeout ?? DEFAULT_FOLLOW_TIMEOUT,
    scheme: cfg.tls ? 'https' : 'http',
    status,
    node: nodeSnapshots(() => processSnapshot(status, metrics, cache)),
  }
}

export async function startProxy(cfg: ProxyConfig, listen: { host?: string; port: number }): Promise<RunningProxy> {
  const deps = await buildDeps(cfg)
  const inflight = new InflightRequests()
  const server = createProxyServer(deps, {
    inflight,
    headersTimeout: cfg.headersTimeout,
    keepAliveTimeout: cfg.keepAliveTimeout,
    tls: cfg.tls,
    tlsHandshakeTimeout: cfg.tlsHandshakeTimeout,
    maxConnsPerClient: cfg.maxConnsPerClient,
    requestTimeout: cfg.requestTimeout,
    clientStallTimeout: cfg.clientStallTimeout,
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    deps.node.close()
    deps.probe.close()
    await deps.cache?.close()
    await deps.hashing.close()
    deps.registry.close() // and the client under deps.tokens: it is the same
    throw err
  }
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const shownHost = host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host
  return {
    server,
    deps,
    port: addr.port,
    url: `${deps.scheme}://${shownHost}:${addr.port}`,
    address: `${deps.scheme}://${host}:${addr.port}`,
    inflight: () => inflight.size,
    async close(graceMs = DEFAULT_SHUTDOWN_GRACE) {
      // Stop accepting, let in-flight responses finish (bounded), then cut.
      const started = Date.now()
      inflight.shutdownBegins()
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      let cut = 0
      const timer = setTimeout(() => {
        cut = inflight.cutAll(graceMs)
        server.closeAllConnections()
      }, graceMs)
      await closed
      clearTimeout(timer)
      const summary = inflight.summary(cut, started)
      deps.node.close()
      deps.probe.close()
      await deps.cache?.close()
      await deps.hashing.close()
      await deps.manifests?.close()
      deps.registry.close() // and the client under deps.tokens: it is the same
      return summary
    },
  }
}
