// Opens a socket for a route: TCP to the origin or the proxy, then the CONNECT
// tunnel, then TLS, all under one connect timeout and the request's signal.
// Failures are mapped here, at one boundary, keeping the cause:
//   TCP to the origin fails       → 'connect'
//   TCP to the proxy, or CONNECT  → 'proxy'
//   TLS handshake                 → 'tls'
//   out of time                   → 'timeout'
//   aborted                       → the signal's reason

import net from 'node:net'
import tls from 'node:tls'
import { UpstreamError, type UpstreamFailure } from '../errors.js'
import { openTunnel } from './tunnel.js'
import type { Route } from './route.js'

export interface DialOptions {
  connectTimeout: number
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean }
}

export async function dial(route: Route, opts: DialOptions, signal?: AbortSignal): Promise<net.Socket> {
  signal?.throwIfAborted()
  const opened: net.Socket[] = []
  let stop: (err: unknown) => void = () => {}
  const stopped = new Promise<never>((_, reject) => {
    stop = reject
  })
  stopped.catch(() => {})
  const timer = setTimeout(
    () => stop(new UpstreamError('timeout', route.origin, `connect timed out after ${opts.connectTimeout} ms`)),
    opts.connectTimeout,
  )
  const onAbort = (): void => stop(signal?.reason)
  signal?.addEventListener('abort', onAbort, { once: true })
  const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, stopped])
  try {
    const first = route.proxy ?? route.target
    const tcp = net.connect({ host: first.host, port: first.port })
    opened.push(tcp)
    tcp.setNoDelay(true)
    const tcpKind: UpstreamFailure = route.proxy === undefined ? 'connect' : 'proxy'
    await step(settled(tcp, 'connect', tcpKind, route, `${first.host}:${first.port}`))
    if (route.kind === 'tunnel') await step(openTunnel(tcp, route))
    if (!route.secure) return tcp
    const secure = tls.connect({
      socket: tcp,
      host: route.target.host,
      servername: route.servername,
      ALPNProtocols: ['http/1.1'],
      ...(opts.tls?.ca !== undefined ? { ca: opts.tls.ca } : {}),
      ...(opts.tls?.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.tls.rejectUnauthorized } : {}),
    })
    opened.push(secure)
    await step(settled(secure, 'secureConnect', 'tls', route, route.authority))
    return secure
  } catch (err) {
    for (const s of opened) s.destroy()
    throw err
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}

/** Resolves on `event`; rejects with an UpstreamError of `kind` on error or close. */
function settled(
  socket: net.Socket,
  event: 'connect' | 'secureConnect',
  kind: UpstreamFailure,
  route: Route,
  where: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const off = (): void => {
      socket.off(event, onOk)
      socket.off('error', onError)
      socket.off('close', onClose)
    }
    const onOk = (): void => {
      off()
      resolve()
    }
    const onError = (err: Error): void => {
      off()
      reject(new UpstreamError(kind, route.origin, `${where}: ${err.message}`, err))
    }
    const onClose = (): void => {
      off()
      reject(new UpstreamError(kind, route.origin, `${where}: connection closed`))
    }
    socket.on(event, onOk)
    socket.on('error', onError)
    socket.on('close', onClose)
  })
}
