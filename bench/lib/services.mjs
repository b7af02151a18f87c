// The systems under test, all on 127.0.0.1: Docker distribution (as the
// upstream, and in its pull-through proxy mode), nginx serving the upstream's
// blob files straight from disk, and crproxy (the built CLI).
import { mkdirSync, writeFileSync, rmSync, createReadStream, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { freePort, startDaemon, waitHttp } from './procs.mjs'

export const REGISTRY_BIN = '/usr/bin/docker-registry'
const here = dirname(fileURLToPath(import.meta.url))

const q = JSON.stringify // JSON strings are valid YAML and nginx strings

/** Environment without proxies or REGISTRY_* overrides: loopback only. */
export function cleanEnv(extra = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('REGISTRY_') || /^(https?|no|all)_proxy$/i.test(k) || k.startsWith('CRPROXY_')) continue
    env[k] = v
  }
  return { ...env, ...extra }
}

/**
 * distribution 2.8 with filesystem storage and no auth; with `proxy` it is a
 * pull-through cache of that upstream. restart({ empty: true }) starts it
 * again on the same port with its storage emptied. `env` adds variables (e.g.
 * SSL_CERT_FILE for an HTTPS remote with a private CA).
 */
export async function startRegistry({ dir, name, proxy, env = {} }) {
  const storage = join(dir, 'storage')
  mkdirSync(storage, { recursive: true })
  const port = await freePort()
  const configPath = join(dir, 'config.yml')
  const logPath = join(dir, 'registry.log')
  const y = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(storage)}`,
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    '  cache:',
    '    blobdescriptor: inmemory',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ]
  if (proxy) y.push('proxy:', `  remoteurl: ${q(proxy)}`)
  writeFileSync(configPath, y.join('\n') + '\n')
  const url = `http://127.0.0.1:${port}`
  const reg = { name, url, port, storage, logPath, daemon: null }
  reg.start = async () => {
    reg.daemon = startDaemon(REGISTRY_BIN, ['serve', configPath], logPath, cleanEnv(env))
    await waitHttp(`${url}/v2/`, { daemon: reg.daemon })
  }
  reg.stop = async () => {
    await reg.daemon?.stop()
    reg.daemon = null
  }
  reg.restart = async ({ empty = false } = {}) => {
    await reg.stop()
    if (empty) {
      rmSync(storage, { recursive: true, force: true })
      mkdirSync(storage, { recursive: true })
    }
    await reg.start()
  }
  reg.pid = () => reg.daemon?.pid
  /** Where distribution keeps a blob's bytes (the file nginx serves). */
  reg.blobPath = (digest) => {
    const hex = digest.slice('sha256:'.length)
    return `/docker/registry/v2/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`
  }
  await reg.start()
  return reg
}

/** How both nginx setups serve files: sendfile, long keep-alive, no MIME types. */
export const NGINX_FILES = `  default_type application/octet-stream;
  types { }
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  server_tokens off;`

/** The top of a one-worker, foreground nginx.conf under base, up to the open `http {` block. */
export function nginxHead(base) {
  const t = (n) => q(join(base, 'tmp', n))
  return `daemon off;
master_process off;
worker_processes 1;
pid ${q(join(base, 'nginx.pid'))};
error_log ${q(join(base, 'error.log'))} warn;
events { worker_connections 1024; }
http {
  client_body_temp_path ${t('body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};`
}

/** nginx, one worker, sendfile: serves `root` as static files. */
export async function startNginx({ dir, root }) {
  const base = join(dir, 'nginx')
  mkdirSync(join(base, 'tmp'), { recursive: true })
  const port = await freePort()
  const conf = join(base, 'nginx.conf')
  writeFileSync(
    conf,
    `${nginxHead(base)}
  access_log ${q(join(base, 'access.log'))};
${NGINX_FILES}
  server {
    listen 127.0.0.1:${port};
    root ${q(root)};
    location / { try_files $uri =404; }
  }
}
`,
  )
  const daemon = startDaemon('nginx', ['-e', join(base, 'error.log'), '-p', base, '-c', conf], join(base, 'stdout.log'), cleanEnv({ PATH: `${process.env.PATH}:/usr/sbin:/sbin` }))
  const url = `http://127.0.0.1:${port}`
  await waitHttp(`${url}/`, { daemon })
  return { name: 'nginx', url, port, daemon, pid: () => daemon.pid, stop: () => daemon.stop() }
}

/**
 * crproxy from the built CLI. `cacheDir` undefined = no cache. `empty` wipes
 * the cache dir before starting. Returns the handle with start-up time (ms
 * from spawn to the first 200 from /healthz). `env` adds variables (e.g.
 * NODE_EXTRA_CA_CERTS). `threadNames` preloads thread-names.cjs, so that
 * its threads' CPU can be told apart (threads.mjs).
 */
export async function startCrproxy({ bin, dir, name, upstream, cacheDir, verify = true, empty = false, port, extraArgs = [], nodeArgs = [], env = {}, threadNames = false }) {
  mkdirSync(dir, { recursive: true })
  if (cacheDir && empty) rmSync(cacheDir, { recursive: true, force: true })
  port ??= await freePort()
  const preload = threadNames ? ['--require', join(here, 'thread-names.cjs')] : []
  const args = [...preload, ...nodeArgs, bin, '--listen', `127.0.0.1:${port}`, '--default-registry', upstream]
  if (cacheDir) args.push('--cache-dir', cacheDir)
  if (!verify) args.push('--no-verify-on-serve')
  args.push(...extraArgs)
  const logPath = join(dir, `${name}.log`)
  const daemon = startDaemon(process.execPath, args, logPath, cleanEnv(env))
  const url = `http://127.0.0.1:${port}`
  const startupMs = await waitHttp(`${url}/healthz`, { daemon, intervalMs: 2, accept: (s) => s === 200, since: daemon.startedAt })
  return { name, url, port, daemon, startupMs, pid: () => daemon.pid, stop: () => daemon.stop(), cacheDir, verify }
}

// ---- pushing an image to the upstream with the registry API ----

function request(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    if (body === undefined) req.end()
    else if (Buffer.isBuffer(body) || typeof body === 'string') req.end(body)
    else body.pipe(req) // a Readable
  })
}

/** Monolithic upload: POST, then PUT ?digest= with the bytes (a Buffer or a file path). */
export async function pushBlob(registry, repo, digest, content) {
  const base = registry.url
  const head = await request('HEAD', `${base}/v2/${repo}/blobs/${digest}`)
  if (head.status === 200) return
  const start = await request('POST', `${base}/v2/${repo}/blobs/uploads/`, { headers: { 'content-length': '0' } })
  if (start.status !== 202) throw new Error(`upload start: ${start.status} ${start.body}`)
  const loc = new URL(start.headers.location, base)
  loc.searchParams.set('digest', digest)
  const isPath = typeof content === 'string'
  const size = isPath ? statSync(content).size : content.length
  const put = await request('PUT', loc, {
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: isPath ? createReadStream(content, { highWaterMark: 4 * 1024 * 1024 }) : content,
  })
  if (put.status !== 201) throw new Error(`upload ${digest}: ${put.status} ${put.body}`)
}

export async function pushManifest(registry, repo, tag, mediaType, raw) {
  const res = await request('PUT', `${registry.url}/v2/${repo}/manifests/${tag}`, {
    headers: { 'content-type': mediaType, 'content-length': String(raw.length) },
    body: raw,
  })
  if (res.status !== 201) throw new Error(`manifest put: ${res.status} ${res.body}`)
  return res.headers['docker-content-digest']
}

/**
 * An HTTP-unaware TCP relay in a Node process, in front of `upstream`; the
 * cold scenario's floors. Modes (relay.cjs): pipe, pooled, hash.
 */
export async function startRelay({ dir, upstream, mode }) {
  mkdirSync(dir, { recursive: true })
  const port = await freePort()
  const up = new URL(upstream)
  const name = `relay-${mode}`
  const daemon = startDaemon(process.execPath, [join(here, 'relay.cjs'), mode, String(port), up.hostname, up.port, dir], join(dir, `${name}.log`), cleanEnv())
  const url = `http://${up.hostname}:${port}`
  await waitHttp(`${url}/v2/`, { daemon })
  return { name, url, port, daemon, pid: () => daemon.pid, stop: () => daemon.stop() }
}
