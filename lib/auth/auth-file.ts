// `--auth-file`: operator credentials for upstream registries, in Docker's
// config.json format ({"auths": {"<registry>": {"auth": "<base64 user:pass>"}}}).
// Parsed into a map by registry host; applied by upstream-credentials.ts.
import { readFile, stat } from 'node:fs/promises'
import { ConfigError } from '../config.js'
import { errnoReason } from '../errno-reason.js'
import { jsonSyntaxError } from '../json-error.js'

export interface Credential {
  username: string
  password: string
}

/** Registry host (`docker.io`, `ghcr.io`, `127.0.0.1:5000`) → credential. */
export type CredentialMap = Map<string, Credential>

const hubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com'])

/** `https://index.docker.io/v1/`, `Docker.io`, `ghcr.io/` → the host key used for lookups. */
export function registryKey(s: string): string {
  const host = (s.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '').split('/')[0] ?? '').replace(/\.$/, '')
  return hubAliases.has(host) ? 'docker.io' : host
}

export interface ParsedAuthFile {
  credentials: CredentialMap
  /** Entries skipped and features not supported, for the log (never secrets). */
  warnings: string[]
}

export function parseAuthFile(text: string, source: string): ParsedAuthFile {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch {
    throw new ConfigError(`auth file ${source}: not valid JSON: ${jsonSyntaxError(text) ?? 'unreadable'}`)
  }
  const auths = (doc as { auths?: unknown } | null)?.auths
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc) || auths === null || typeof auths !== 'object' || Array.isArray(auths)) {
    throw new ConfigError(`auth file ${source}: expected Docker's config.json format: {"auths": {"<registry>": {"auth": "<base64 user:pass>"}}}`)
  }
  const credentials: CredentialMap = new Map()
  const warnings: string[] = []
  for (const k of ['credsStore', 'credHelpers']) {
    if (k in doc) warnings.push(`${k} is not supported: only credentials written into "auths" are used`)
  }
  for (const [registry, entry] of Object.entries(auths as Record<string, unknown>)) {
    const e = (entry ?? {}) as Record<string, unknown>
    let username = typeof e['username'] === 'string' ? e['username'] : undefined
    let password = typeof e['password'] === 'string' ? e['password'] : undefined
    if (typeof e['auth'] === 'string' && e['auth'] !== '') {
      const decoded = Buffer.from(e['auth'], 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon < 1) throw new ConfigError(`auth file ${source}: "auth" of ${JSON.stringify(registry)} is not base64 of user:password`)
      username = decoded.slice(0, colon)
      password = decoded.slice(colon + 1)
    }
    if (!username || password === undefined) {
      const why = 'identitytoken' in e ? 'identitytoken is not supported' : 'no auth or username/password'
      warnings.push(`entry ${JSON.stringify(registry)} skipped: ${why}`)
      continue
    }
    credentials.set(registryKey(registry), { username, password })
  }
  return { credentials, warnings }
}

export async function loadAuthFile(path: string): Promise<ParsedAuthFile> {
  let text: string
  let mode: number
  try {
    text = await readFile(path, 'utf8')
    mode = (await stat(path)).mode
  } catch (err) {
    throw new ConfigError(`auth file ${path}: cannot read: ${errnoReason(err)}`)
  }
  const parsed = parseAuthFile(text, path)
  if (mode & 0o077) parsed.warnings.push(`${path} is readable by group or others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`)
  return parsed
}
