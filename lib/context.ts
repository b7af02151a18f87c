// What every handler gets: the request, its response, and the pieces of the
// proxy it may use. Built once per request in lib/server.ts.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from './log.js'
import type { Metrics } from './metrics.js'
import type { RealmRegistry } from './registry/realms.js'
import type { Router } from './registry/route.js'
import type { UpstreamSet } from './registry/upstreams.js'
import type { Transport } from './upstream/types.js'
import type { BlobCache } from './cache/blob-cache.js'
import type { AccessGrants } from './auth/grants.js'
import type { ManifestCache } from './manifests/manifest-cache.js'
import type { UpstreamCredentials } from './auth/upstream-credentials.js'
import type { HashWorkerPool } from './integrity/hash-worker.js'
import type { NodeSnapshots } from './status/node-view.js'
import type { StatusRecorders } from './status/recorders.js'
import type { FailoverDeps } from './upstream/failover.js'
import type { HealthProbe } from './upstream/probe.js'
import type { Policy } from './policy/policy.js'

export interface ProxyDeps {
  upstreams: UpstreamSet
  router: Router
  realms: RealmRegistry
  /**
   * /v2 requests upstream: client → timing → --auth-file credentials (when
   * given) → redirects (lib/proxy.ts buildDeps).
   */
  registry: Transport
  /** Token relays and realm discovery: the same without the operator's credentials. */
  tokens: Transport
  /** The credentials in `registry`, for SIGHUP to replace. */
  upstreamAuth?: UpstreamCredentials
  cache: BlobCache | undefined
  /** Manifest cache (with --cache-dir; lib/manifests/). Undefined: manifests are always forwarded. */
  manifests?: ManifestCache
  /** SHA-256 worker threads (lib/integrity/hash-worker.ts), shared by every blob stream. */
  hashing: HashWorkerPool
  grants: AccessGrants
  metrics: Metrics
  log: Logger
  trustProxy: boolean
  /** Largest token request body relayed (OAuth2 forms are a few hundred bytes). */
  tokenBodyLimit: number
  /** ms a request following another's fill may see no progress before it fetches on its own. */
  followTimeout: number
  /** Scheme clients use to reach us when no trusted X-Forwarded-Proto says otherwise. */
  scheme: 'http' | 'https'
  /** What this process records for the status page (lib/status/). */
  status: StatusRecorders
  /** The node's figures (all workers'): /metrics, /status.json and the page at /. */
  node: NodeSnapshots
  /** Health, token owners and rate limits of failover chains (lib/upstream/failover.ts). */
  failover: FailoverDeps
  /** Brings chain members back into rotation (lib/upstream/probe.ts). */
  probe: HealthProbe
  /** `--policy` (swapped on SIGHUP); undefined: every pull is allowed. */
  policy: Policy | undefined
  policyDenials: ReturnType<Metrics['counter']>
}

export interface RequestContext {
  req: IncomingMessage
  res: ServerResponse
  id: string
  log: Logger
  /** The client's address (the connection's, never X-Forwarded-For): whose share of upstream sockets a request uses. */
  client: string
  /** Raw, undecoded path: validation happens on what the client sent. */
  rawPath: string
  query: URLSearchParams
  head: boolean
  /** Aborts when the client goes away before the response finished. */
  signal: AbortSignal
  /** Filled in by handlers for the access log. */
  upstreamKey?: string
  /** The repository as the upstream names it (`library/alpine`), for the status page's most-pulled table. */
  repository?: string
  source?: 'cache' | 'upstream' | 'fill' | 'follower' | 'stale'
}
