// Socket reads into buffers we size, instead of Node's fixed 64 KiB.
//
// Every read costs a syscall, a parser call, a hop through each stream stage,
// a hash-ring message and a write to the client. A 256 MiB blob read 64 KiB
// at a time is 4096 of each; on 2 cores that per-chunk work, not the copying
// of bytes, was a third of a cold pull. So a plain-TCP upstream socket reads
// through net's `onread` hook into a buffer that grows (up to 1 MiB) while
// reads fill it, and shrinks when they do not.
//
// A chunk is handed on without a copy when it fills at least half of its
// buffer, and a fresh buffer takes its place; a smaller read is copied out
// and the buffer reused. So a chunk never pins more than twice its size, and
// nobody downstream ever sees its memory overwritten.
//
// TLS sockets keep Node's own reads: the `onread` hook is net-only, and TLS
// decrypts in records of at most 16 KiB anyway.

import net from 'node:net'

const MIN = 64 * 1024
const MAX = 1024 * 1024

export class ReadBuffers {
  #size = MIN
  #buf = Buffer.allocUnsafeSlow(MIN)
  #sink: ((chunk: Buffer) => void) | null = null
  /** Read before anyone listened (kept, as a 'data' listener added late would not lose them either). */
  #early: Buffer[] = []

  /** Where chunks go from now on; anything read before is delivered first. */
  set sink(fn: (chunk: Buffer) => void) {
    this.#sink = fn
    const early = this.#early
    this.#early = []
    for (const c of early) fn(c)
  }

  /** For net's onread: the buffer the next read goes into. */
  readonly next = (): Buffer => this.#buf

  /** For net's onread: a read of n bytes landed in buf. */
  readonly onRead = (n: number, buf: Uint8Array): boolean => {
    const b = buf as Buffer
    let chunk: Buffer
    if (n * 2 >= b.length) {
      chunk = b.subarray(0, n)
      if (n === b.length && this.#size < MAX) this.#size *= 2
      this.#buf = Buffer.allocUnsafeSlow(this.#size)
    } else {
      chunk = Buffer.allocUnsafe(n)
      b.copy(chunk, 0, 0, n)
      if (this.#size > MIN) {
        this.#size /= 2
        this.#buf = Buffer.allocUnsafeSlow(this.#size)
      }
    }
    if (this.#sink) this.#sink(chunk)
    else this.#early.push(chunk)
    // Pausing is the owner's business (socket.pause() works with onread).
    return true
  }
}

const readers = new WeakMap<net.Socket, ReadBuffers>()

/** net.connect, reading through ReadBuffers; its chunks go to readsOf(socket).sink, not to 'data'. */
export function connectSized(opts: net.NetConnectOpts): net.Socket {
  const reads = new ReadBuffers()
  const socket = net.connect({ ...opts, onread: { buffer: reads.next, callback: reads.onRead } } as net.NetConnectOpts)
  readers.set(socket, reads)
  return socket
}

/** The ReadBuffers a socket from connectSized() reads through. */
export function readsOf(socket: net.Socket): ReadBuffers | undefined {
  return readers.get(socket)
}
