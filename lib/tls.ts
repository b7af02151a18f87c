// Serving HTTPS: the certificate and key come from PEM files (a wildcard
// certificate for `*.<suffix>` covers every `<key>.<suffix>`) and are read
// again on SIGHUP. `server.setSecureContext()` swaps the context for new
// handshakes only: connections already open keep theirs and are not dropped,
// so a renewed certificate (certbot, cert-manager) needs no restart.
import { readFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import type https from 'node:https'
import { createSecureContext, type SecureContextOptions } from 'node:tls'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { ConfigError } from './config.js'
import { errnoReason } from './errno-reason.js'

export interface TlsFiles {
  certPath: string
  keyPath: string
}

export interface TlsMaterial {
  cert: Buffer
  key: Buffer
  /** For the log: who the certificate names and until when it is valid. */
  subject: string
  validTo: string
}

/** Both flags or neither. */
export function tlsFilesFrom(cert: string | undefined, key: string | undefined): TlsFiles | undefined {
  if (!cert && !key) return undefined
  if (!cert || !key) throw new ConfigError('--tls-cert and --tls-key go together')
  return { certPath: cert, keyPath: key }
}

/** Reads and checks the pair (a key that does not match the certificate fails here, not at the first handshake). */
export async function loadTls(files: TlsFiles): Promise<TlsMaterial> {
  const read = async (path: string, what: string) => {
    try {
      return await readFile(path)
    } catch (err) {
      throw new ConfigError(`${what} ${path}: cannot read: ${errnoReason(err)}`)
    }
  }
  const cert = await read(files.certPath, '--tls-cert')
  const key = await read(files.keyPath, '--tls-key')
  // Each file on its own first, so the error names the one that is wrong.
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch (err) {
    throw new ConfigError(`--tls-cert ${files.certPath}: not a PEM certificate (${opensslReason(err)})`)
  }
  try {
    createPrivateKey(key)
  } catch (err) {
    throw new ConfigError(`--tls-key ${files.keyPath}: not an unencrypted PEM private key (${opensslReason(err)})`)
  }
  try {
    createSecureContext({ cert, key } satisfies SecureContextOptions)
  } catch (err) {
    throw new ConfigError(`--tls-cert ${files.certPath} with --tls-key ${files.keyPath}: ${opensslReason(err)}`)
  }
  const names = x509.subjectAltName ?? x509.subject
  return { cert, key, subject: names.replace(/\s+/g, ' '), validTo: new Date(x509.validTo).toISOString() }
}

/** "error:05800074:x509 certificate routines::key values mismatch" → "key values mismatch". */
function opensslReason(err: unknown): string {
  const msg = (err as Error).message ?? String(err)
  return /^error:[0-9A-F]+:[^:]*:[^:]*:(.+)$/.exec(msg)?.[1] ?? msg
}

/** New handshakes use the files as they are now; on any error the old context stays. */
export async function reloadTls(server: Server, files: TlsFiles): Promise<TlsMaterial> {
  const m = await loadTls(files)
  ;(server as unknown as https.Server).setSecureContext({ cert: m.cert, key: m.key })
  return m
}
