// Floors for the cold scenario: HTTP-unaware TCP relays, one Node process
// each. Every client connection gets a new upstream connection; the client's
// bytes are piped up, the upstream's bytes are relayed down as below.
//
//   node relay.cjs MODE PORT HOST UPSTREAM_PORT DIR
//
//   pipe    u.pipe(c): Node's own 64 KiB reads (the first floor; it
//           understates what a Node relay can do)
//   pooled  the upstream socket reads through net's `onread` into a
//           connection's own 1 MiB buffers, each reused once the client
//           write's callback returned it
//   hash    pooled, and every chunk is also appended to a file and hashed
//           with SHA-256 in a worker thread, in place: the buffers are
//           slots of a SharedArrayBuffer, the worker gets {slot, off, len}
//           and acknowledges; a slot is reused once the client write, the
//           file write and the hash are all done. The floor for a verified,
//           cached cold pull (it hashes the HTTP head too, and does not hold
//           the last byte back until the digest is known)
'use strict'
const { createHash } = require('node:crypto')
const fs = require('node:fs')
const net = require('node:net')
const { join } = require('node:path')
const { Worker, isMainThread, parentPort } = require('node:worker_threads')

const MiB = 1024 * 1024
const SLOTS = 8 // per connection: 8 MiB in flight at most

if (!isMainThread) {
  const views = new Map()
  const hashes = new Map()
  parentPort.on('message', (m) => {
    if (m.op === 'open') {
      views.set(m.id, new Uint8Array(m.sab))
      hashes.set(m.id, createHash('sha256'))
    } else if (m.op === 'u') {
      const base = m.slot * MiB + m.off
      hashes.get(m.id).update(views.get(m.id).subarray(base, base + m.len))
      parentPort.postMessage({ op: 'a', id: m.id, slot: m.slot })
    } else if (m.op === 'd') {
      const hex = hashes.get(m.id).digest('hex')
      hashes.delete(m.id)
      views.delete(m.id)
      parentPort.postMessage({ op: 'd', id: m.id, hex })
    }
  })
  return
}

const [mode, port, host, upPort, dir] = process.argv.slice(2)
if (!['pipe', 'pooled', 'hash'].includes(mode)) throw new Error(`relay: unknown mode ${mode}`)

let worker = null
const conns = new Map() // id → { onAck, onDigest }
if (mode === 'hash') {
  worker = new Worker(__filename)
  worker.on('message', (m) => {
    const c = conns.get(m.id)
    if (m.op === 'a') c?.onAck(m.slot)
    else if (m.op === 'd') c?.onDigest(m.hex)
  })
  worker.unref()
}

let nextId = 0
let lastFile = null

net
  .createServer((c) => {
    c.on('error', () => {})
    if (mode === 'pipe') {
      const u = net.connect(Number(upPort), host)
      u.on('error', () => c.destroy())
      c.on('error', () => u.destroy())
      c.pipe(u)
      u.pipe(c)
      return
    }
    relayPooled(c, nextId++)
  })
  .listen(Number(port), host)

function relayPooled(c, id) {
  const hashing = mode === 'hash'
  const sab = hashing ? new SharedArrayBuffer(SLOTS * MiB) : null
  const slots = Array.from({ length: SLOTS }, (_, i) => (sab ? Buffer.from(sab, i * MiB, MiB) : Buffer.allocUnsafeSlow(MiB)))
  // The socket always holds one free slot to read into (`target`); it is
  // paused whenever no other slot is free, so a read never lands in a slot
  // that is still being written or hashed.
  let target = 0
  const free = slots.map((_, i) => i).slice(1)
  const pending = new Array(SLOTS).fill(0)
  let paused = false
  let fd = null
  let pos = 0
  let upstreamDone = false
  let inFlight = 0

  const release = (slot) => {
    if (--pending[slot] > 0) return
    inFlight--
    free.push(slot)
    if (paused) {
      paused = false
      u.resume()
    }
    if (upstreamDone && inFlight === 0) finish()
  }

  if (hashing) {
    if (lastFile) fs.rm(lastFile, { force: true }, () => {})
    lastFile = join(dir, `relay-fill-${id}`)
    fd = fs.openSync(lastFile, 'w')
    worker.postMessage({ op: 'open', id, sab })
    conns.set(id, {
      onAck: release,
      onDigest: (hex) => {
        conns.delete(id)
        fs.close(fd, () => {})
        if (pos > 0) process.stdout.write(`connection ${id}: ${pos} bytes, sha256 ${hex}\n`)
      },
    })
  }
  let finished = false
  const finish = () => {
    if (finished) return
    finished = true
    if (hashing) worker.postMessage({ op: 'd', id })
  }

  const u = net.connect({
    port: Number(upPort),
    host,
    onread: {
      buffer: () => slots[target],
      callback: (n, buf) => {
        const slot = target
        if (buf !== slots[slot]) throw new Error('relay: a read landed outside the target slot')
        target = free.pop()
        if (free.length === 0) {
          paused = true
          u.pause()
        }
        inFlight++
        const chunk = buf.subarray(0, n)
        pending[slot] = hashing ? 3 : 1
        c.write(chunk, () => release(slot))
        if (hashing) {
          fs.write(fd, chunk, 0, n, pos, (err) => {
            if (err) c.destroy(err)
            release(slot)
          })
          pos += n
          worker.postMessage({ op: 'u', id, slot, off: 0, len: n })
        }
        return true
      },
    },
  })
  u.on('end', () => {
    upstreamDone = true
    c.end()
    if (inFlight === 0) finish()
  })
  u.on('error', () => c.destroy())
  u.on('close', () => {
    upstreamDone = true
    if (inFlight === 0) finish()
  })
  c.on('error', () => u.destroy())
  c.on('close', () => u.destroy())
  c.pipe(u)
  u.resume() // flowing, so that 'end' is emitted (reads go to the callback)
}
