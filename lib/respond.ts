// The one place where errors become the registry's JSON error body
// (distribution-spec "Error Codes"): {"errors":[{"code","message","detail"}]}.
import { STATUS_CODES, type ServerResponse } from 'node:http'
import { type ProxyError, toProxyError } from './errors.js'

// Set on the response before any handler runs; everything else on it was
// meant for an answer that is not being sent.
const KEPT_ON_ERROR = new Set(['x-request-id', 'connection'])

export function errorBody(err: ProxyError): string {
  return JSON.stringify({ errors: [{ code: err.code, message: err.message, detail: err.detail ?? null }] })
}

/**
 * Sends `err` as a registry error, or cuts the connection when the headers
 * already left: a half-sent body must never look complete to the client.
 */
export function writeError(res: ServerResponse, thrown: unknown, head = false): ProxyError {
  const err = toProxyError(thrown)
  if (res.headersSent) {
    res.destroy(err)
    return err
  }
  const body = errorBody(err)
  // A writeHead that threw (a header value Node refused) leaves the headers
  // it set before the bad one and its status message behind: the error must
  // carry neither (no "500 OK" with the upstream's Docker-Content-Digest).
  for (const name of res.getHeaderNames()) if (!KEPT_ON_ERROR.has(name)) res.removeHeader(name)
  res.statusCode = err.status
  res.statusMessage = STATUS_CODES[err.status] ?? ''
  res.setHeader('content-type', 'application/json')
  res.setHeader('content-length', Buffer.byteLength(body))
  res.setHeader('docker-distribution-api-version', 'registry/2.0')
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v)
  res.end(head ? undefined : body)
  return err
}

export function writeJson(res: ServerResponse, status: number, value: unknown, head = false): void {
  const body = JSON.stringify(value)
  res.statusCode = status
  res.setHeader('content-type', 'application/json')
  res.setHeader('content-length', Buffer.byteLength(body))
  res.end(head ? undefined : body)
}

/**
 * `err` as a whole HTTP/1.1 response, for connections the http module does
 * not answer on (malformed requests, connections refused at accept). It
 * says Connection: close: the caller closes the connection after it.
 */
export function rawErrorResponse(err: ProxyError): string {
  const body = errorBody(err)
  const lines = [
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Docker-Distribution-Api-Version: registry/2.0',
    ...Object.entries(err.headers).map(([k, v]) => `${k}: ${v}`),
    'Connection: close',
  ]
  return lines.join('\r\n') + '\r\n\r\n' + body
}
