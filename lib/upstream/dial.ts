// Opens a socket for a route: TCP to the origin or the proxy, then the CONNECT
// tunnel, then TLS, all under one connect timeout and the request's signal.
// Failures are mapped here, at one boundary, keeping the cause:
//   TCP to the origin fails       → 'connect'
//   TCP to the proxy, or CONNECT  → 'proxy'
//   TLS handshake                 → 'tls'
//   out of time                   → 'timeout'
//   target refused by egress.ts   → 'denied' (before any packet is sent to it)
//   aborted                       → the signal's reason

import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import net from 'node:net'
import tls from 'node:tls'
import { UpstreamError, type UpstreamFailure } from '../errors.js'
import { EgressDenied, type EgressPolicy } from './egress.js'
import { connectSized, connectSizedTls } from './read-buffers.js'
import { openTunnel } from './tunnel.js'
import type { Route } from './route.js'

export interface DialOptions {
  connectTimeout: number
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean }
  /** Where connections may go (SSRF guard); absent: anywhere. */
  egress?: EgressPolicy | undefined
}

/**
 * `upstream`: the origin of the configured upstream the connection is opened
 * for; only that upstream's own host and port skip the egress check.
 */
export async function dial(route: Route, opts: DialOptions, upstream: string | undefined, signal?: AbortSignal): Promise<net.Socket> {
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
    // The upstream's own host and port go anywhere; anything else is
    // checked: IP literals and proxied targets here, resolved names in the
    // lookup, before a packet is sent.
    const target = route.target
    const guard = opts.egress !== undefined && !opts.egress.own(upstream, target.host, target.port) ? opts.egress : undefined
    const literal = net.isIP(target.host) !== 0
    if (guard !== undefined && (route.proxy !== undefined || literal)) {
      const why = route.proxy !== undefined ? guard.checkName(target.host, target.port) : guard.check(target.host, target.port, target.host)
      if (why !== null) throw new UpstreamError('denied', route.origin, new EgressDenied(target.host, target.port, why).message)
    }
    const first = route.proxy ?? route.target
    const lookup = guard !== undefined && route.proxy === undefined && !literal ? guardedLookup(guard, target.port) : undefined
    const tcpOpts = { host: first.host, port: first.port, ...(lookup ? { lookup } : {}) }
    const tcpKind: UpstreamFailure = route.proxy === undefined ? 'connect' : 'proxy'
    if (route.secure && route.proxy === undefined) {
      // TLS straight to the origin: tls.connect makes the TCP socket itself,
      // the only way its reads go through onread (read-buffers.ts).
      const secure = connectSizedTls({ ...tcpOpts, ...tlsOptions(route, opts) })
      opened.push(secure)
      secure.setNoDelay(true)
      await step(settled(secure, 'connect', tcpKind, route, `${first.host}:${first.port}`))
      await step(settled(secure, 'secureConnect', 'tls', route, route.authority))
      return secure
    }
    // A socket that stays plain TCP reads in sized buffers (read-buffers.ts);
    // a CONNECT tunnel and TLS over it need ordinary 'data' events.
    const tcp = route.secure ? net.connect(tcpOpts) : connectSized(tcpOpts)
    opened.push(tcp)
    tcp.setNoDelay(true)
    await step(settled(tcp, 'connect', tcpKind, route, `${first.host}:${first.port}`))
    if (route.kind === 'tunnel') await step(openTunnel(tcp, route))
    if (!route.secure) return tcp
    const secure = tls.connect({ socket: tcp, ...tlsOptions(route, opts) })
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

function tlsOptions(route: Route, opts: DialOptions): tls.ConnectionOptions {
  return {
    host: route.target.host,
    servername: route.servername,
    ALPNProtocols: ['http/1.1'],
    ...(opts.tls?.ca !== undefined ? { ca: opts.tls.ca } : {}),
    ...(opts.tls?.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.tls.rejectUnauthorized } : {}),
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
      if (err instanceof EgressDenied) return reject(new UpstreamError('denied', route.origin, err.message, err))
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

/**
 * dns.lookup, keeping only the addresses the egress policy allows for this
 * host; none left is an EgressDenied error on the socket.
 */
function guardedLookup(guard: EgressPolicy, port: number): net.LookupFunction {
  return ((hostname: string, options: { all?: boolean }, cb: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return cb(err)
      let why = 'no address'
      const allowed = addresses.filter((a) => {
        const reason = guard.check(hostname, port, a.address)
        if (reason !== null) why = reason
        return reason === null
      })
      if (allowed.length === 0) return cb(new EgressDenied(hostname, port, why))
      if (options.all) return cb(null, allowed)
      cb(null, allowed[0]!.address, allowed[0]!.family)
    })
  }) as unknown as net.LookupFunction
}
