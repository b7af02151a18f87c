// CONNECT through an http proxy (RFC 9110 §9.3.6): ask for a tunnel to the
// target's authority and wait for a 2xx. The caller then runs TLS inside it.
// The proxy's answer is read with read() in paused mode, so no byte meant for
// the TLS layer is consumed and the socket is handed over paused.

import { UpstreamError } from '../errors.js'
import type { Socket } from 'node:net'
import type { Route } from './route.js'

const MAX_HEAD = 16 * 1024
const HEAD_END = Buffer.from('\r\n\r\n')

export function openTunnel(socket: Socket, route: Route): Promise<void> {
  const proxy = route.proxy
  if (proxy === undefined) return Promise.reject(new TypeError('openTunnel needs a proxy route'))
  const where = `proxy ${proxy.host}:${proxy.port}`
  return new Promise<void>((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0)
    const done = (err?: Error): void => {
      socket.off('readable', onReadable)
      socket.off('end', onEnd)
      socket.off('error', onError)
      socket.off('close', onEnd)
      if (err === undefined) resolve()
      else reject(err)
    }
    const fail = (message: string, cause?: unknown): void =>
      done(new UpstreamError('proxy', route.origin, `${where}: ${message}`, cause))
    const onEnd = (): void => fail('closed the connection during CONNECT')
    const onError = (err: Error): void => fail(`CONNECT failed: ${err.message}`, err)
    const onReadable = (): void => {
      let chunk: Buffer | null
      while ((chunk = socket.read() as Buffer | null) !== null) {
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk])
        const end = head.indexOf(HEAD_END)
        if (end === -1) {
          if (head.length > MAX_HEAD) return fail('CONNECT response header too large')
          continue
        }
        const statusLine = head.toString('latin1', 0, head.indexOf('\r\n'))
        const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine)
        if (m === null) return fail(`malformed CONNECT response: ${JSON.stringify(statusLine.slice(0, 100))}`)
        const status = Number(m[1])
        if (status < 200 || status > 299) {
          return fail(`refused CONNECT to ${route.authority}: ${status} ${m[2] ?? ''}`.trimEnd())
        }
        const rest = head.subarray(end + HEAD_END.length)
        if (rest.length > 0) socket.unshift(rest)
        return done()
      }
    }
    socket.on('readable', onReadable)
    socket.on('end', onEnd)
    socket.on('error', onError)
    socket.on('close', onEnd)
    let req = `CONNECT ${route.authority} HTTP/1.1\r\nHost: ${route.authority}\r\n`
    if (proxy.authorization !== undefined) req += `Proxy-Authorization: ${proxy.authorization}\r\n`
    socket.write(`${req}\r\n`, 'latin1')
  })
}
