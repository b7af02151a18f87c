// Sizes for --cache-max-size and friends: '500MiB', '50GiB', '2TB', '1.5G',
// '1048576'. Binary units (KiB…TiB) and bare K/M/G/T are powers of 1024;
// decimal units (KB…TB) are powers of 1000, as the IEC/SI prefixes say.
// Case-insensitive; a trailing 'B' alone means bytes.

const units: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  tb: 1000 ** 4,
}

/** Bytes (an integer, rounded down) for a human size; throws on anything else. */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isFinite(input) && input >= 0) return Math.floor(input)
    throw new Error(`invalid size ${input}: expected a non-negative number of bytes`)
  }
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(input)
  const unit = m ? units[m[2]!.toLowerCase()] : undefined
  if (!m || unit === undefined) {
    throw new Error(
      `invalid size ${JSON.stringify(input)}: expected a number with an optional unit ` +
        `(B, KiB, MiB, GiB, TiB, KB, MB, GB, TB, K, M, G, T), e.g. 500MiB or 50GiB`,
    )
  }
  const bytes = Math.floor(Number(m[1]) * unit)
  if (!Number.isSafeInteger(bytes)) throw new Error(`invalid size ${JSON.stringify(input)}: too large`)
  return bytes
}
