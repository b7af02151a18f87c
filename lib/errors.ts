// One error type for everything the proxy itself refuses or fails at.
// Upstream errors are not ProxyErrors: they pass through as the upstream
// wrote them. Mapping to the registry's {"errors":[…]} body happens in
// exactly one place: writeError() in lib/respond.ts.

export type RegistryCode =
  | 'NAME_UNKNOWN'
  | 'MANIFEST_UNKNOWN'
  | 'BLOB_UNKNOWN'
  | 'NAME_INVALID'
  | 'DIGEST_INVALID'
  | 'MANIFEST_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'SIZE_INVALID'
  | 'BAD_GATEWAY'
  | 'GATEWAY_TIMEOUT'
  | 'UNAVAILABLE'
  | 'NOT_FOUND'
  | 'BAD_REQUEST'

export class ProxyError extends Error {
  readonly code: RegistryCode
  readonly status: number
  readonly detail: unknown
  readonly headers: Record<string, string>

  constructor(
    status: number,
    code: RegistryCode,
    message: string,
    opts: { cause?: unknown; detail?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'ProxyError'
    this.status = status
    this.code = code
    this.detail = opts.detail ?? null
    this.headers = opts.headers ?? {}
  }
}

export const nameUnknown = (message: string, detail?: unknown) =>
  new ProxyError(404, 'NAME_UNKNOWN', message, { detail })
export const nameInvalid = (message: string, detail?: unknown) =>
  new ProxyError(400, 'NAME_INVALID', message, { detail })
export const digestInvalid = (message: string, detail?: unknown) =>
  new ProxyError(400, 'DIGEST_INVALID', message, { detail })
export const unsupported = (message: string) => new ProxyError(405, 'UNSUPPORTED', message)
export const denied = (message: string, detail?: unknown) =>
  new ProxyError(403, 'DENIED', message, { detail })
export const notFound = (message: string) => new ProxyError(404, 'NOT_FOUND', message)
export const badRequest = (message: string, detail?: unknown) =>
  new ProxyError(400, 'BAD_REQUEST', message, { detail })
export const badGateway = (message: string, cause?: unknown) =>
  new ProxyError(502, 'BAD_GATEWAY', message, { cause })
export const gatewayTimeout = (message: string, cause?: unknown) =>
  new ProxyError(504, 'GATEWAY_TIMEOUT', message, { cause })
export const rangeNotSatisfiable = (size: number) =>
  new ProxyError(416, 'RANGE_INVALID', 'requested range not satisfiable', {
    headers: { 'content-range': `bytes */${size}` },
  })

/** Low-level failures of the upstream transport, before any response. */
export type UpstreamFailure = 'connect' | 'timeout' | 'reset' | 'protocol' | 'tls' | 'proxy' | 'denied' | 'overload'

export class UpstreamError extends Error {
  readonly kind: UpstreamFailure
  readonly origin: string
  constructor(kind: UpstreamFailure, origin: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause })
    this.name = 'UpstreamError'
    this.kind = kind
    this.origin = origin
  }
}

/** Maps any thrown value to the ProxyError the client will see. */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err
  if (err instanceof UpstreamError) {
    // Too many upstream requests in flight: the proxy is busy, not broken.
    if (err.kind === 'overload') {
      return new ProxyError(503, 'UNAVAILABLE', err.message, { cause: err, headers: { 'retry-after': '1' } })
    }
    // The refusal names the target and what it resolved to: the log has it
    // (as the cause), the client learns nothing about internal names.
    if (err.kind === 'denied') return badGateway('upstream redirect or token realm refused by the egress policy', err)
    return err.kind === 'timeout'
      ? gatewayTimeout(`upstream ${err.origin} timed out: ${err.message}`, err)
      : badGateway(`upstream ${err.origin} failed: ${err.message}`, err)
  }
  return new ProxyError(500, 'UNAVAILABLE', 'internal error', { cause: err })
}
