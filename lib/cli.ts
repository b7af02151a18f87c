// `crproxy` — parses flags, loads the registry map, starts the proxy, and
// stops it gracefully on SIGTERM/SIGINT. main() returns the exit code so
// tests can call it without spawning.
import { buildTime, version } from './build-info.js'
import { ConfigError, loadRegistryMap, parseDuration, parseListen, parseSize, validateUpstreamUrl } from './config.js'
import { configCommand } from './config-output.js'
import { cacheCommand } from './tools/cache/command.js'
import { prefetchCommand } from './tools/prefetch/command.js'
import { ensureUsableCacheDir } from './cache/usable-dir.js'
import { envName, helpText, parseFlags } from './flags.js'
import { createLogger, type Logger } from './log.js'
import { effectiveMap, startProxy, type ProxyConfig, type RunningProxy } from './proxy.js'
import { FollowRedirects } from './upstream/redirects.js'
import { loadAuthFile } from './auth/auth-file.js'
import { reload } from './reload.js'
import { loadPolicy } from './policy/policy-file.js'
import { loadTls, tlsFilesFrom } from './tls.js'
import { isWorker, onReloadRequest, parseWorkers, reportFatalToPrimary, runPrimary, workerLogFields, workerShutdown } from './workers.js'
import { defaultClientOptions, proxyEnvFromProcess, UpstreamClient } from './upstream/client.js'
import type { UpstreamClientOptions } from './upstream/types.js'

export interface CliIo {
  env: NodeJS.ProcessEnv
  stdout: (s: string) => void
  stderr: (s: string) => void
  /** Resolves when the process should shut down (SIGTERM/SIGINT by default). */
  shutdown?: Promise<unknown>
  /** stdout is a terminal (prefetch draws a progress bar). */
  tty?: boolean
  /** Called once the proxy listens (tests use it to learn the port). */
  onListening?: (p: RunningProxy) => void
}

const MAP_FETCH_LIMIT = 1024 * 1024

export async function main(argv: string[], io: CliIo): Promise<number> {
  if (argv[0] === 'config') {
    const client = () => ({ ...defaultClientOptions(), proxy: outboundProxy(io.env) })
    return configCommand(argv.slice(1), io, (source) => loadRegistryMap(source, (url) => fetchText(url, client())))
  }
  if (argv[0] === 'cache') {
    const client = () => ({ ...defaultClientOptions(), proxy: outboundProxy(io.env) })
    return cacheCommand(argv.slice(1), io, (source) => loadRegistryMap(source, (url) => fetchText(url, client())))
  }
  if (argv[0] === 'prefetch') return prefetchCommand(argv.slice(1), io)
  let proxy: RunningProxy
  let log: Logger
  let stopReload = () => {}
  let shutdownGrace = 0
  let format = requestedLogFormat(argv, io.env)
  try {
    const f = parseFlags(argv, io.env)
    if (f['help']) {
      io.stdout(helpText())
      return 0
    }
    if (f['version']) {
      io.stdout(`crproxy ${version} (built ${buildTime}, node ${process.version})\n`)
      return 0
    }
    const chosen = f['log-format'] as string
    if (chosen !== 'text' && chosen !== 'json') throw new ConfigError(`--log-format: expected text or json, got ${JSON.stringify(chosen)}`)
    format = chosen
    log = createLogger({ level: io.env['DEBUG'] && io.env['DEBUG'] !== '0' ? 'debug' : 'info', format, write: (l) => io.stderr(l + '\n') })
    const inWorker = workerLogFields()
    if (inWorker) log = log.child(inWorker)
    const listen = parseListen(f['listen'] as string)
    const client: UpstreamClientOptions = {
      ...defaultClientOptions(),
      connectTimeout: parseDuration(f['connect-timeout'] as string, '--connect-timeout'),
      headerTimeout: parseDuration(f['header-timeout'] as string, '--header-timeout'),
      idleTimeout: parseDuration(f['idle-timeout'] as string, '--idle-timeout'),
      maxSocketsPerOrigin: positiveInt(f['upstream-max-sockets'] as string, '--upstream-max-sockets'),
      queueTimeout: parseDuration(f['upstream-queue-timeout'] as string, '--upstream-queue-timeout'),
      proxy: outboundProxy(io.env),
    }
    const perClient = f['upstream-sockets-per-client'] as string | undefined
    if (perClient) {
      client.socketsPerClient = positiveInt(perClient, '--upstream-sockets-per-client')
      if (client.socketsPerClient > client.maxSocketsPerOrigin) {
        throw new ConfigError(`--upstream-sockets-per-client: ${perClient} is more than --upstream-max-sockets (${client.maxSocketsPerOrigin})`)
      }
    }
    const defaultRegistry = f['default-registry'] as string | undefined
    const registryMap = await loadRegistryMap(f['registry-map'] as string | undefined, (url) => fetchText(url, client))
    let cacheMaxSize: number
    try {
      cacheMaxSize = parseSize(f['cache-max-size'] as string)
    } catch (err) {
      throw new ConfigError(`--cache-max-size: ${(err as Error).message}`)
    }
    const tlsFiles = tlsFilesFrom(f['tls-cert'] as string | undefined, f['tls-key'] as string | undefined)
    const tls = tlsFiles ? await loadTls(tlsFiles) : undefined
    const authFile = (f['auth-file'] as string | undefined) || undefined
    const auth = authFile ? await loadAuthFile(authFile) : undefined
    const policyFile = (f['policy'] as string | undefined) || undefined
    const policy = policyFile ? await loadPolicy(policyFile) : undefined
    const failoverBackoff = {
      initial: positiveDuration(f['failover-backoff'] as string, '--failover-backoff'),
      max: positiveDuration(f['failover-backoff-max'] as string, '--failover-backoff-max'),
    }
    if (failoverBackoff.max < failoverBackoff.initial) {
      throw new ConfigError(`--failover-backoff-max (${f['failover-backoff-max']}) is shorter than --failover-backoff (${f['failover-backoff']})`)
    }
    const workers = parseWorkers(f['workers'] as string)
    shutdownGrace = parseDuration(f['shutdown-grace'] as string, '--shutdown-grace')
    const cfg: ProxyConfig = {
      registryMap,
      defaultRegistry: defaultRegistry ? validateUpstreamUrl(defaultRegistry, '--default-registry') : undefined,
      domainSuffix: ((f['domain-suffix'] as string) ?? '').toLowerCase().replace(/^\.+|\.+$/g, ''),
      cacheDir: (f['cache-dir'] as string) || undefined,
      cacheMaxSize,
      verifyOnServe: f['verify-on-serve'] !== false,
      verifyEveryServe: f['verify-every-serve'] === true,
      fillTimeout: parseDuration(f['fill-timeout'] as string, '--fill-timeout'),
      followTimeout: parseDuration(f['follow-timeout'] as string, '--follow-timeout'),
      grantTtl: parseDuration(f['grant-ttl'] as string, '--grant-ttl'),
      staleIfError: parseDuration(f['stale-if-error'] as string, '--stale-if-error'),
      client,
      trustProxy: f['trust-proxy'] === true,
      maxConnsPerClient: count(f['max-conns-per-client'] as string, '--max-conns-per-client'),
      maxUpstreamInflight: count(f['max-upstream-inflight'] as string, '--max-upstream-inflight'),
      redirectAllow: ((f['redirect-allow'] as string | undefined) ?? '').split(/[\s,]+/).filter((h) => h !== ''),
      log,
      upstreamCredentials: auth?.credentials,
      tls: tls && { cert: tls.cert, key: tls.key },
      tlsHandshakeTimeout: positiveDuration(f['tls-handshake-timeout'] as string, '--tls-handshake-timeout'),
      statusPage: f['status'] !== false,
      failoverBackoff,
      policy,
    }
    rejectContradictions(f, cfg)
    if (cfg.cacheDir) {
      try {
        await ensureUsableCacheDir(cfg.cacheDir)
      } catch (err) {
        throw new ConfigError(`--cache-dir ${(err as Error).message}`)
      }
    }
    // The primary only checked the configuration; the workers serve.
    // The primary kills workers that outlive their own grace (plus time to log the cuts).
    if (workers > 1 && !isWorker()) {
      return await runPrimary({ workers, argv, log, shutdownGrace: shutdownGrace + 5000, fatal: (m) => fatal(io, format, m) })
    }
    try {
      proxy = await startProxy(cfg, listen)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      const where = `${listen.host ?? ''}:${listen.port}`
      if (e.code === 'EADDRINUSE') throw new ConfigError(`cannot listen on ${where}: address already in use`)
      if (e.code === 'EACCES') throw new ConfigError(`cannot listen on ${where}: permission denied`)
      if (e.code === 'EADDRNOTAVAIL') throw new ConfigError(`cannot listen on ${where}: address not available`)
      if (e.code && e.syscall) throw new ConfigError(`${e.syscall} ${e.path ?? ''}: ${e.code}`.replace(/ +/g, ' '))
      throw err
    }
    const map = effectiveMap(cfg)
    log.info('crproxy listening', {
      version,
      listen: proxy.address,
      suffix: cfg.domainSuffix || undefined,
      registries: Object.keys(map).length,
      default: Array.isArray(map['default']) ? map['default'].join(' ') : map['default'],
      cache: cfg.cacheDir ?? 'off',
    })
    if (tls) log.info('serving https', { certificate: tls.subject, valid_to: tls.validTo })
    if (policy) log.info('pull policy', { file: policy.source, rules: policy.rules.length, default: policy.default })
    if (auth) {
      for (const w of auth.warnings) log.warn('auth file: ' + w)
      log.info('upstream credentials for clients without their own', { registries: [...auth.credentials.keys()].join(',') })
    }
    const running = proxy
    const sources = { registryMap: f['registry-map'] as string | undefined, authFile, policy: policyFile, tls: tlsFiles, fetchText: (url: URL) => fetchText(url, client) }
    stopReload = onReloadRequest(() => void reload(running, cfg, sources, log))
    io.onListening?.(proxy)
  } catch (err) {
    const message = (err as Error).message
    if (!(err instanceof ConfigError)) {
      fatal(io, format, message)
      return 1
    }
    if (!(await reportFatalToPrimary(message))) fatal(io, format, message)
    return 2
  }
  await (io.shutdown ?? Promise.race([signalled(), workerShutdown()]))
  stopReload()
  log.info('shutting down: finishing in-flight requests', { inflight: proxy.inflight(), grace_ms: shutdownGrace })
  const summary = await proxy.close(shutdownGrace)
  log.info('stopped', { ...summary })
  return 0
}

/** Flags that each parse but together ask for something crproxy would silently not do. */
function rejectContradictions(f: Record<string, unknown>, cfg: ProxyConfig): void {
  if (cfg.staleIfError && !cfg.cacheDir) {
    throw new ConfigError('--stale-if-error needs --cache-dir: stale tags are served from the cache')
  }
  if (cfg.cacheMaxSize && !cfg.cacheDir) {
    throw new ConfigError('--cache-max-size needs --cache-dir: it bounds the cache directory')
  }
  if (f['verify-every-serve'] === true && f['verify-on-serve'] === false) {
    throw new ConfigError('--verify-every-serve contradicts --no-verify-on-serve: choose one')
  }
}

/** The one line a failed start ends with, in the log format asked for. */
function fatal(io: CliIo, format: 'text' | 'json', message: string): void {
  if (format === 'json') createLogger({ level: 'error', format, write: (l) => io.stderr(l + '\n') }).error(message, { fatal: true })
  else io.stderr(`crproxy: ${message}\n`)
}

/** Before the flags parse (an error in them is fatal too): was JSON asked for? */
function requestedLogFormat(argv: string[], env: NodeJS.ProcessEnv): 'text' | 'json' {
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?log-format(?:=(.*))?$/.exec(argv[i] as string)
    if (m) return (m[1] ?? argv[i + 1]) === 'json' ? 'json' : 'text'
  }
  return env[envName('log-format')] === 'json' ? 'json' : 'text'
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off('SIGTERM', on)
      process.off('SIGINT', on)
      resolve(sig)
    }
    process.once('SIGTERM', on)
    process.once('SIGINT', on)
  })
}

function outboundProxy(env: NodeJS.ProcessEnv) {
  try {
    return proxyEnvFromProcess(env)
  } catch (err) {
    throw new ConfigError((err as Error).message)
  }
}

/** A non-negative integer (0 = unbounded). */
function count(s: string, what: string): number {
  if (!/^\d+$/.test(s)) throw new ConfigError(`${what}: expected a non-negative integer, got ${JSON.stringify(s)}`)
  return Number(s)
}

/** A duration that cannot be 0 (Node reads a TLS handshake timeout of 0 as its own default). */
function positiveDuration(s: string, what: string): number {
  const ms = parseDuration(s, what)
  if (ms < 1) throw new ConfigError(`${what}: expected a duration above 0, got ${JSON.stringify(s)}`)
  return ms
}

function positiveInt(s: string, what: string): number {
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new ConfigError(`${what}: expected a positive integer, got ${JSON.stringify(s)}`)
  return Number(s)
}

async function fetchText(url: URL, opts: UpstreamClientOptions): Promise<string> {
  const client = new FollowRedirects(new UpstreamClient(opts))
  try {
    const res = await client.request({ method: 'GET', url, headers: { accept: 'application/json' } })
    if (res.status !== 200) {
      res.body.resume()
      throw new Error(`HTTP ${res.status}`)
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const c of res.body as AsyncIterable<Buffer>) {
      size += c.length
      if (size > MAP_FETCH_LIMIT) throw new Error('larger than 1 MiB')
      chunks.push(c)
    }
    return Buffer.concat(chunks).toString('utf8')
  } finally {
    client.close()
  }
}
