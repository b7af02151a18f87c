// A crproxy cache directory holding `count` valid blobs: small random
// contents, each stored under its real SHA-256 (blobs/sha256/<2>/<64>), so
// that the start-up index scan sees what a full cache looks like.
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export function makeFakeCache(dir, count, { minBytes = 64, maxBytes = 4096 } = {}) {
  const marker = join(dir, '.bench-fake-count')
  if (existsSync(marker) && readFileSync(marker, 'utf8') === String(count)) return { reused: true, count }
  const root = join(dir, 'blobs', 'sha256')
  for (let i = 0; i < 256; i++) mkdirSync(join(root, i.toString(16).padStart(2, '0')), { recursive: true })
  mkdirSync(join(dir, 'tmp'), { recursive: true })
  const pool = randomBytes(1024 * 1024)
  let bytes = 0
  for (let i = 0; i < count; i++) {
    const len = minBytes + (pool.readUInt16LE((i * 2) % (pool.length - 2)) % (maxBytes - minBytes + 1))
    const off = (i * 7919) % (pool.length - len - 8)
    const data = Buffer.from(pool.subarray(off, off + len))
    data.writeUInt32LE(i, 0) // unique contents, so unique digests
    const hex = createHash('sha256').update(data).digest('hex')
    writeFileSync(join(root, hex.slice(0, 2), hex), data)
    bytes += len
  }
  writeFileSync(marker, String(count))
  return { reused: false, count, bytes }
}
