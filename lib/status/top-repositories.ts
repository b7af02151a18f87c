// The most-pulled repositories by bytes, in bounded memory: the space-saving
// algorithm (Metwally et al., 2005) keeps `capacity` counters; a new name
// takes over the smallest one and inherits its count, so a heavy hitter is
// never missed and a flood of one-off names (they are client-chosen) cannot
// grow the table. Updated once per response, never per chunk.

export type RepositoryBytes = Array<[name: string, bytes: number]>

export const DEFAULT_CAPACITY = 100

export class TopRepositories {
  readonly #counts = new Map<string, number>()

  constructor(readonly capacity = DEFAULT_CAPACITY) {}

  add(name: string, bytes: number): void {
    if (bytes <= 0) return
    const was = this.#counts.get(name)
    if (was !== undefined) return void this.#counts.set(name, was + bytes)
    if (this.#counts.size < this.capacity) return void this.#counts.set(name, bytes)
    let minName = ''
    let min = Infinity
    for (const [n, c] of this.#counts) {
      if (c < min) {
        min = c
        minName = n
      }
    }
    this.#counts.delete(minName)
    this.#counts.set(name, min + bytes)
  }

  /** Largest first. */
  snapshot(): RepositoryBytes {
    return [...this.#counts].sort((a, b) => b[1] - a[1])
  }
}

/** Several processes' tables summed per name, cut to `capacity`. */
export function mergeRepositories(list: RepositoryBytes[], capacity = DEFAULT_CAPACITY): RepositoryBytes {
  const sum = new Map<string, number>()
  for (const l of list) for (const [n, b] of l) sum.set(n, (sum.get(n) ?? 0) + b)
  return [...sum].sort((a, b) => b[1] - a[1]).slice(0, capacity)
}
