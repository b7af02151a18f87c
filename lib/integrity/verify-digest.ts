// Body stage: checks that a blob body is the bytes its digest names, without
// ever letting a client receive a complete wrong body. Bytes pass through as
// they come, except the most recent chunk, which is held back; at the end the
// SHA-256 (and the length, when known) is compared and only then is the held
// chunk released. On a mismatch the stream errors instead, so the client sees
// a truncated response, never a complete one (OCI distribution-spec: "clients
// SHOULD verify the digest"; we do it for them), with an IntegrityError.
import { Transform, type TransformCallback } from 'node:stream'
import { inlineHasher, type Hasher } from './hash-worker.js'
import { parseDigest, type DigestAlgorithm } from '../registry/grammar.js'
import { IntegrityError } from './integrity-error.js'

export { parseDigest, type DigestAlgorithm, type ParsedDigest } from '../registry/grammar.js'

export interface VerifyDigestOptions {
  /** 'sha256:<hex>' ('sha512:<hex>' is accepted too). */
  digest: string
  /** Expected length in bytes, when known (Content-Length). */
  size?: number | undefined
  /**
   * SHA-256 from elsewhere (a worker thread, lib/integrity/hash-worker.ts), so
   * that hashing overlaps the sending; default inline. It is used for sha256
   * digests only, and disposed of with the stream.
   */
  hasher?: Hasher | undefined
}

/** The hasher a stage uses for `algorithm`: the offered one when it computes that algorithm, else inline. */
export function hasherFor(algorithm: DigestAlgorithm, offered: Hasher | undefined): Hasher {
  if (offered && algorithm === 'sha256') return offered
  offered?.dispose()
  return inlineHasher(algorithm)
}

export class VerifyDigest extends Transform {
  readonly #expected: string
  readonly #size: number | undefined
  readonly #hasher: Hasher
  readonly #algorithm: DigestAlgorithm
  #held: Buffer | null = null
  #seen = 0

  constructor(opts: VerifyDigestOptions) {
    super()
    const parsed = parseDigest(opts.digest)
    if (!parsed) {
      opts.hasher?.dispose()
      throw new TypeError(`VerifyDigest: unsupported digest ${JSON.stringify(opts.digest)}`)
    }
    this.#expected = opts.digest
    this.#algorithm = parsed.algorithm
    this.#size = opts.size
    this.#hasher = hasherFor(parsed.algorithm, opts.hasher)
  }

  override _transform(chunk: Buffer | string, encoding: BufferEncoding, cb: TransformCallback): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk
    if (buf.length === 0) return cb()
    this.#seen += buf.length
    // More bytes than announced: fail now rather than after the whole surplus.
    if (this.#size !== undefined && this.#seen > this.#size) return cb(this.#mismatch(`${this.#algorithm}:?`))
    // By reference: nobody writes to a chunk once it has been pushed on.
    this.#hasher.update(buf)
    const previous = this.#held
    this.#held = buf
    // A worker that fell behind holds the stream back (its ring is bounded).
    const behind = this.#hasher.backlog()
    if (behind) void behind.then(() => cb(null, previous ?? undefined))
    else cb(null, previous ?? undefined)
  }

  override _flush(cb: TransformCallback): void {
    this.#hasher.digest().then(
      (hex) => {
        const found = `${this.#algorithm}:${hex}`
        if (found !== this.#expected || (this.#size !== undefined && this.#seen !== this.#size)) {
          return cb(this.#mismatch(found))
        }
        const last = this.#held
        this.#held = null
        cb(null, last ?? undefined)
      },
      (err: Error) => cb(err),
    )
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#hasher.dispose()
    this.#held = null
    cb(err)
  }

  #mismatch(found: string): IntegrityError {
    this.#held = null
    return new IntegrityError({ expected: this.#expected, found, expectedSize: this.#size, foundSize: this.#seen })
  }
}
