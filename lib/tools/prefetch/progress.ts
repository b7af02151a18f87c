// What `crproxy prefetch` shows while it works. On a terminal: one line
// redrawn in place (bar, bytes, blobs, rate), with resolved images and
// failures printed above it. Otherwise (CI logs): one plain line per blob,
// nothing redrawn.
import { formatRate, formatSize } from '../format.js'
import type { BlobRef } from './resolve.js'

export interface Progress {
  /** A line that stays (resolved image, failure), on either kind of output. */
  note(line: string): void
  /** `nameWidth`: the longest image name, so that plain lines line up. */
  planned(blobs: number, bytes: number, nameWidth: number): void
  bytes(n: number): void
  blobDone(image: string, blob: BlobRef, ms: number): void
  blobFailed(image: string, blob: BlobRef, why: string): void
  /** Stops redrawing; returns the totals. */
  finish(): { blobs: number; bytes: number; ms: number }
}

const BAR = 24
const REDRAW_MS = 200

export function createProgress(write: (s: string) => void, tty: boolean, now: () => number = Date.now): Progress {
  const started = now()
  let totalBlobs = 0
  let totalBytes = 0
  let doneBlobs = 0
  let bytes = 0
  let timer: NodeJS.Timeout | null = null
  let drawn = false
  let width = 0

  const line = () => {
    const frac = totalBytes > 0 ? Math.min(1, bytes / totalBytes) : doneBlobs === totalBlobs ? 1 : 0
    const full = Math.round(frac * BAR)
    const bar = '='.repeat(Math.max(0, full - 1)) + (full > 0 ? (full === BAR ? '=' : '>') : '') + ' '.repeat(BAR - full)
    return `[${bar}] ${formatSize(bytes)} / ${formatSize(totalBytes)}  ${doneBlobs}/${totalBlobs} blobs  ${formatRate(bytes, now() - started)}`
  }
  const clear = () => {
    if (drawn) write('\r\x1b[K')
    drawn = false
  }
  const draw = () => {
    if (!tty || totalBlobs === 0) return
    write('\r\x1b[K' + line())
    drawn = true
  }
  const stay = (s: string) => {
    clear()
    write(s + '\n')
    draw()
  }
  return {
    note: stay,
    planned(blobs, size, nameWidth) {
      totalBlobs = blobs
      totalBytes = size
      width = nameWidth
      if (tty) {
        draw()
        timer = setInterval(draw, REDRAW_MS)
        timer.unref()
      }
    },
    bytes(n) {
      bytes += n
    },
    blobDone(image, blob, ms) {
      doneBlobs++
      if (tty) return
      write(`${image.padEnd(width)}  ${blob.digest}  ${formatSize(blob.size).padStart(10)}  ${(ms / 1000).toFixed(2)}s\n`)
    },
    blobFailed(image, blob, why) {
      stay(`${image}  ${blob.digest}  FAILED: ${why}`)
    },
    finish() {
      if (timer) clearInterval(timer)
      if (tty && totalBlobs) {
        write('\r\x1b[K' + line() + '\n')
        drawn = false
      }
      return { blobs: doneBlobs, bytes, ms: now() - started }
    },
  }
}
