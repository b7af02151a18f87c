// Bytes that are not what their digest names. Follows ssri/cacache:
// `code: 'EINTEGRITY'` with `expected` and `found`, so a caller can tell a
// rotten or lying source (evict, refetch, cut the client off) from I/O errors.
export class IntegrityError extends Error {
  readonly code = 'EINTEGRITY'
  /** The digest the bytes should have had. */
  readonly expected: string
  /** The digest of the bytes that were seen. */
  readonly found: string
  readonly expectedSize?: number
  readonly foundSize?: number

  constructor(fields: { expected: string; found: string; expectedSize?: number | undefined; foundSize?: number | undefined }) {
    const sizeNote =
      fields.expectedSize !== undefined && fields.foundSize !== undefined && fields.expectedSize !== fields.foundSize
        ? ` (expected ${fields.expectedSize} bytes, got ${fields.foundSize})`
        : ''
    super(`digest mismatch: expected ${fields.expected}, found ${fields.found}${sizeNote}`)
    this.name = 'IntegrityError'
    this.expected = fields.expected
    this.found = fields.found
    if (fields.expectedSize !== undefined) this.expectedSize = fields.expectedSize
    if (fields.foundSize !== undefined) this.foundSize = fields.foundSize
  }
}

export function isDigestMismatch(err: unknown): err is IntegrityError {
  return err instanceof IntegrityError
}
