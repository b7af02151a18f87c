// Reusable read buffers for cache fills: fixed-size slots of shared memory
// that an upstream socket reads into, that the hash worker hashes in place,
// and that the cache file and the client are written from. Nothing copies
// the bytes between the socket and those three consumers.
//
// A slot is counted: the reader holds it while reads land in it, and each
// consumer of a chunk cut from it holds it until it is done with the chunk
// (the worker acknowledged the hash, the file write resolved, the client's
// socket write completed). At zero it goes back to the pool. The pool is
// bounded in total and per reader; a reader that finds no slot waits for one,
// with its socket paused: that is the fill's only backpressure.
//
// Slots are SharedArrayBuffers so that the worker can read them. The pool
// keeps at most maxSlots of them; when all are taken, a reader within its
// budget gets an ordinary buffer that is not kept (hashed through the
// worker's ring), so that readers that hold slots for long (a trickling
// upstream) never stall the others.

const MiB = 1024 * 1024

export class Slot {
  readonly id: number
  readonly buf: Buffer
  #refs = 0
  readonly #pool: SlotPool
  /** Who took it from the pool: the reader whose budget it counts against. */
  owner: SlotBudget | null = null

  /** Shared memory, kept by the pool; false: an overflow buffer, dropped when let go. */
  readonly pooled: boolean

  constructor(pool: SlotPool, id: number, size: number, pooled: boolean) {
    this.#pool = pool
    this.id = id
    this.pooled = pooled
    this.buf = pooled ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafeSlow(size)
  }

  hold(): void {
    this.#refs++
  }

  release(): void {
    if (this.#refs <= 0) throw new Error(`slot ${this.id} released more often than held`)
    if (--this.#refs === 0) this.#pool.recycle(this)
  }
}

/** One reader's share of the pool. */
export class SlotBudget {
  readonly #pool: SlotPool
  readonly #max: number
  taken = 0
  #waiter: (() => void) | null = null
  #wantFree = 1

  constructor(pool: SlotPool, max: number) {
    this.#pool = pool
    this.#max = max
  }

  /** A free slot, held once for the caller; null when this reader has all it may. */
  take(): Slot | null {
    if (this.taken >= this.#max) return null
    this.taken++
    return this.#pool.take(this)
  }

  /** The reader waits for one of its slots to come back (its socket is paused). */
  get waiting(): boolean {
    return this.#waiter !== null
  }

  /**
   * Calls cb once, when a quarter of this reader's slots are free again: a
   * socket resumed for every slot that comes back would pause again at once.
   */
  whenFree(cb: () => void): void {
    this.#waiter = cb
    this.#wantFree = Math.max(1, Math.floor(this.#max / 4))
  }

  /** The reader is gone: it no longer waits. */
  cancel(): void {
    this.#waiter = null
  }

  /** @internal one of this reader's slots came back. */
  returned(): void {
    this.taken--
    if (this.#max - this.taken < this.#wantFree) return
    const w = this.#waiter
    this.#waiter = null
    w?.()
  }
}

export interface SlotPoolOptions {
  /** Bytes per slot (default 1 MiB). */
  slotSize?: number
  /** Slots in all (default 64). */
  maxSlots?: number
}

export class SlotPool {
  readonly slotSize: number
  readonly maxSlots: number
  readonly #all: Slot[] = []
  readonly #free: Slot[] = []
  readonly #bySab = new WeakMap<ArrayBufferLike, Slot>()
  /** Overflow buffers handed out and not let go yet. */
  #overflow = 0

  constructor(opts: SlotPoolOptions = {}) {
    this.slotSize = opts.slotSize ?? MiB
    this.maxSlots = opts.maxSlots ?? 64
  }

  /** A budget of at most max slots for one reader. */
  budget(max: number): SlotBudget {
    return new SlotBudget(this, Math.max(1, max))
  }

  /** Slots (and overflow buffers) held by someone now. */
  get inUse(): number {
    return this.#all.length - this.#free.length + this.#overflow
  }

  /** The slot a chunk was cut from, if it was. */
  slotOf(chunk: Uint8Array): Slot | undefined {
    return this.#bySab.get(chunk.buffer)
  }

  /** @internal */
  take(owner: SlotBudget): Slot {
    let slot = this.#free.pop()
    if (!slot) {
      const pooled = this.#all.length < this.maxSlots
      slot = new Slot(this, pooled ? this.#all.length : -1, this.slotSize, pooled)
      if (pooled) this.#all.push(slot)
      else this.#overflow++
      this.#bySab.set(slot.buf.buffer, slot)
    }
    slot.owner = owner
    slot.hold()
    return slot
  }

  /** @internal a slot's last holder let go. */
  recycle(slot: Slot): void {
    const owner = slot.owner
    slot.owner = null
    if (slot.pooled) this.#free.push(slot)
    else this.#overflow--
    owner?.returned()
  }
}
