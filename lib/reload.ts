// SIGHUP: read the registry map, the --auth-file, the --policy and the TLS files again and
// apply each that is valid. One that fails keeps what is running and logs a
// warning: a typo in a file must not take the proxy down.
import { AccessGrants } from './auth/grants.js'
import { loadAuthFile } from './auth/auth-file.js'
import { loadRegistryMap, type FetchText, type RegistryMap } from './config.js'
import type { ProxyDeps } from './context.js'
import type { Logger } from './log.js'
import { effectiveMap, type ProxyConfig, type RunningProxy } from './proxy.js'
import { Router } from './registry/route.js'
import { UpstreamSet } from './registry/upstreams.js'
import { reloadTls, type TlsFiles } from './tls.js'
import { loadPolicy } from './policy/policy-file.js'

export interface ReloadSources {
  /** `--registry-map` (undefined: the embedded map, which cannot change). */
  registryMap: string | undefined
  authFile?: string
  policy?: string
  tls?: TlsFiles
  fetchText: FetchText
}

/** Swaps the upstreams and router in place; handlers read them per request. */
export function applyRegistryMap(deps: ProxyDeps, cfg: ProxyConfig, registryMap: RegistryMap): boolean {
  const next = new UpstreamSet(effectiveMap({ registryMap, defaultRegistry: cfg.defaultRegistry }), { dockerHubKeys: cfg.dockerHubKeys, health: deps.upstreams.health })
  const same = JSON.stringify(next.toJSON()) === JSON.stringify(deps.upstreams.toJSON())
  cfg.registryMap = registryMap
  if (same) return false
  deps.upstreams = next
  deps.router = new Router(next, cfg.domainSuffix)
  // The egress guard opens each configured upstream's own host and port to its requests (lib/upstream/egress.ts).
  deps.registry.setUpstreams(next.urls())
  // A key may now name another registry: what the old one accepted says
  // nothing about the new one, so cached blobs are re-checked upstream.
  deps.grants = new AccessGrants({ ttl: cfg.grantTtl })
  return true
}

export async function reload(proxy: RunningProxy, cfg: ProxyConfig, src: ReloadSources, log: Logger): Promise<void> {
  if (src.registryMap !== undefined) {
    try {
      const map = await loadRegistryMap(src.registryMap, src.fetchText)
      const changed = applyRegistryMap(proxy.deps, cfg, map)
      log.info(changed ? 'registry map reloaded' : 'registry map unchanged', { registries: Object.keys(map).length })
    } catch (err) {
      log.warn('registry map reload failed: keeping the current map', { error: (err as Error).message })
    }
  }
  if (src.authFile && proxy.deps.upstreamAuth) {
    try {
      const parsed = await loadAuthFile(src.authFile)
      proxy.deps.upstreamAuth.setCredentials(parsed.credentials)
      // What anonymous clients were granted came from the old credentials.
      proxy.deps.grants = new AccessGrants({ ttl: cfg.grantTtl })
      for (const w of parsed.warnings) log.warn('auth file: ' + w)
      log.info('auth file reloaded', { registries: parsed.credentials.size })
    } catch (err) {
      log.warn('auth file reload failed: keeping the current credentials', { error: (err as Error).message })
    }
  }
  if (src.policy) {
    try {
      const policy = await loadPolicy(src.policy)
      proxy.deps.policy = policy
      log.info('policy reloaded', { file: policy.source, rules: policy.rules.length, default: policy.default })
    } catch (err) {
      log.warn('policy reload failed: keeping the current policy', { error: (err as Error).message })
    }
  }
  if (src.tls) {
    try {
      const m = await reloadTls(proxy.server, src.tls)
      log.info('tls certificate reloaded', { subject: m.subject, valid_to: m.validTo })
    } catch (err) {
      log.warn('tls reload failed: keeping the current certificate', { error: (err as Error).message })
    }
  }
}
