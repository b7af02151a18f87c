// Socket reads into buffers we size, instead of Node's per-read allocations.
//
// Every read costs a syscall, a parser call, a hop through each stage, a hash
// message and a write to the client. So an upstream socket, plain or TLS,
// reads through net's `onread` hook:
//
// - Ordinarily into a buffer that grows (up to 1 MiB) while reads fill it,
//   and shrinks when they do not. A chunk is handed on without a copy when it
//   fills at least half of its buffer, and a fresh buffer takes its place; a
//   smaller read is copied out and the buffer reused. So a chunk never pins
//   more than twice its size, and nobody downstream ever sees its memory
//   overwritten.
// - For a cache fill's body (useSlots), into the fill's shared-memory slots
//   (slot-pool.ts): reads land one after another in a slot, and what they
//   bring is handed on as slices of it, which the consumers hold until they
//   are done. The socket is paused only when the fill has no free slot. TLS
//   hands over one record (at most 16 KiB) per read; those are handed on
//   together, once per event-loop turn or per FLUSH bytes.
//
// A TLS socket has `onread` only when tls.connect makes the TCP socket
// itself (connectSized); one wrapping a CONNECT tunnel keeps 'data' events.

import net from 'node:net'
import tls from 'node:tls'
import type { Slot, SlotBudget } from './slot-pool.js'

const MIN = 64 * 1024
const MAX = 1024 * 1024
/** Coalesced TLS records are handed on at least this often. */
const FLUSH = 512 * 1024

export class ReadBuffers {
  #size = MIN
  #buf = Buffer.allocUnsafeSlow(MIN)
  #sink: ((chunk: Buffer) => void) | null = null
  /** Read before anyone listened (kept, as a 'data' listener added late would not lose them either). */
  #early: Buffer[] = []
  readonly #coalesce: boolean
  #socket: net.Socket | null = null
  // Slot mode (a fill's body).
  #budget: SlotBudget | null = null
  #starved: ((on: boolean) => void) | null = null
  /** The slot reads land in; held by this reader while the socket may write into it. */
  #slot: Slot | null = null
  /** Next read position in #slot, and the start of what was read but not handed on yet. */
  #at = 0
  #from = 0
  /** The buffer the socket reads into next is #slot's free part (else #buf, or #spare). */
  #intoSlot = false
  /**
   * Where the read after a wait for a slot lands (the socket's next buffer
   * is chosen before the wait starts): small, and copied into the slot the
   * wait ended with, so that a fill's bytes all reach the hash worker in place.
   */
  readonly #spare = Buffer.allocUnsafeSlow(16 * 1024)
  #intoSpare = false
  #flushing: NodeJS.Immediate | null = null
  #waiting = false
  /** Bytes still to come of the body being read into slots: those are handed on at once. */
  #due = Infinity
  /** Inside onRead: the socket's next buffer is chosen after it returns. */
  #inRead = false

  constructor(coalesce: boolean) {
    this.#coalesce = coalesce
  }

  /** Where chunks go from now on; anything read before is delivered first. */
  set sink(fn: (chunk: Buffer) => void) {
    this.#sink = fn
    const early = this.#early
    this.#early = []
    for (const c of early) fn(c)
  }

  /** @internal the socket these reads are for (to pause it when no slot is free). */
  attach(socket: net.Socket): void {
    this.#socket = socket
    socket.once('close', () => {
      this.#leaveSlots()
      this.#dropSlot() // the socket reads into nothing any more
    })
  }

  /**
   * From the next read on, reads land in slots of this budget (null: back to
   * ordinary buffers). starved(true) tells that the socket waits for a slot,
   * starved(false) that it reads again.
   */
  useSlots(budget: SlotBudget | null, starved?: (on: boolean) => void, remaining?: number): void {
    if (budget === null) return this.#leaveSlots()
    if (this.#budget !== null) this.#leaveSlots()
    this.#budget = budget
    this.#starved = starved ?? null
    // The last of a body is handed on in the read that brings it, not a turn
    // later: the body then ends inside onRead, and the socket's next buffer
    // is never a slot's (see leaveSlots).
    this.#due = remaining ?? Infinity
  }

  /** For net's onread: the buffer the next read goes into. */
  readonly next = (): Buffer => {
    const slot = this.#slot
    if (this.#intoSlot && slot !== null) return slot.buf.subarray(this.#at)
    return this.#intoSpare ? this.#spare : this.#buf
  }

  /** For net's onread: a read of n bytes landed in buf. Returns false to stop reading. */
  readonly onRead = (n: number, buf: Uint8Array): boolean => {
    this.#inRead = true
    try {
      return this.#onRead(n, buf)
    } finally {
      this.#inRead = false
    }
  }

  #onRead(n: number, buf: Uint8Array): boolean {
    this.#due -= n
    const slot = this.#slot
    if (buf === this.#spare) {
      this.#intoSpare = false
      if (slot === null || this.#budget === null || slot.buf.length - this.#at < n) {
        this.#flush()
        this.#deliver(copyOut(this.#spare, 0, n))
        return this.#budget === null ? true : this.#prepareSlot()
      }
      this.#spare.copy(slot.buf, this.#at, 0, n)
    }
    if (slot !== null && (buf === this.#spare || buf.buffer === slot.buf.buffer)) {
      this.#at += n
      if (this.#budget === null) {
        // Slot mode ended while this read was pending: hand it on as an ordinary chunk.
        const copy = copyOut(slot.buf, this.#at - n, this.#at)
        this.#dropSlot()
        this.#deliver(copy)
        return true
      }
      if (!this.#coalesce || this.#due <= 0 || this.#at - this.#from >= FLUSH || this.#at === slot.buf.length) this.#flush()
      else this.#flushing ??= setImmediate(this.#flushSoon)
    } else {
      this.#flush()
      this.#deliver(this.#ordinary(n, buf as Buffer))
    }
    return this.#budget === null ? true : this.#prepareSlot()
  }

  /** Makes sure the next read has slot space; false (stop reading) when none is free. */
  #prepareSlot(): boolean {
    if (this.#budget === null) return true
    if (this.#slot !== null && this.#at < this.#slot.buf.length) {
      this.#intoSlot = true
      return true
    }
    this.#flush()
    // The flush may have ended the body (and slot mode): then read on as usual.
    const budget = this.#budget
    if (budget === null) return true
    this.#dropSlot()
    const slot = budget.take()
    if (slot !== null) {
      this.#slot = slot
      this.#at = 0
      this.#from = 0
      this.#intoSlot = true
      return true
    }
    // No slot: the next read goes to the spare buffer, once one is free again.
    this.#intoSlot = false
    this.#intoSpare = true
    if (!this.#waiting) {
      this.#waiting = true
      this.#starved?.(true)
      budget.whenFree(this.#slotFreed)
    }
    return false
  }

  readonly #slotFreed = (): void => {
    this.#waiting = false
    if (this.#budget === null) return
    if (this.#prepareSlot()) {
      this.#starved?.(false)
      this.#socket?.resume()
    }
  }

  readonly #flushSoon = (): void => {
    this.#flushing = null
    this.#flush()
  }

  /** Hands on what was read into the slot and not handed on yet. */
  #flush(): void {
    if (this.#flushing !== null) {
      clearImmediate(this.#flushing)
      this.#flushing = null
    }
    const slot = this.#slot
    if (slot === null || this.#at === this.#from) return
    const chunk = slot.buf.subarray(this.#from, this.#at)
    this.#from = this.#at
    this.#deliver(chunk)
  }

  #dropSlot(): void {
    const slot = this.#slot
    this.#slot = null
    this.#intoSlot = false
    this.#intoSpare = false
    this.#at = this.#from = 0
    slot?.release()
  }

  #leaveSlots(): void {
    if (this.#budget === null) return
    this.#flush()
    this.#budget.cancel()
    this.#budget = null
    this.#starved = null
    this.#due = Infinity
    if (this.#waiting) {
      // Stopped for want of a slot, and the body ended all the same (TLS
      // hands on the records it decrypted already): the socket must read on,
      // or the next response on it is never seen.
      this.#waiting = false
      if (this.#socket?.destroyed === false) this.#socket.resume()
    }
    // Outside onRead, the socket's next buffer is the slot's free part
    // already: keep holding the slot until that read lands (or the socket
    // closes), as nobody else may be handed memory the kernel may write to.
    if (this.#inRead || !this.#intoSlot || this.#socket?.destroyed !== false) this.#dropSlot()
  }

  #ordinary(n: number, b: Buffer): Buffer {
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
    return chunk
  }

  #deliver(chunk: Buffer): void {
    if (this.#sink) this.#sink(chunk)
    else this.#early.push(chunk)
  }
}

/** A copy of src[start, end) that nobody else will write to. */
function copyOut(src: Buffer, start: number, end: number): Buffer {
  const copy = Buffer.allocUnsafe(end - start)
  src.copy(copy, 0, start, end)
  return copy
}

const readers = new WeakMap<net.Socket, ReadBuffers>()

function sized<S extends net.Socket>(coalesce: boolean, connect: (onread: object) => S): S {
  const reads = new ReadBuffers(coalesce)
  const socket = connect({ onread: { buffer: reads.next, callback: reads.onRead } })
  reads.attach(socket)
  readers.set(socket, reads)
  return socket
}

/** net.connect, reading through ReadBuffers; its chunks go to readsOf(socket).sink, not to 'data'. */
export function connectSized(opts: net.NetConnectOpts): net.Socket {
  return sized(false, (onread) => net.connect({ ...opts, ...onread } as net.NetConnectOpts))
}

/** tls.connect making its own TCP socket, reading through ReadBuffers (records coalesced). */
export function connectSizedTls(opts: tls.ConnectionOptions): tls.TLSSocket {
  return sized(true, (onread) => tls.connect({ ...opts, ...onread } as tls.ConnectionOptions))
}

/** The ReadBuffers a socket from connectSized() reads through. */
export function readsOf(socket: net.Socket): ReadBuffers | undefined {
  return readers.get(socket)
}
