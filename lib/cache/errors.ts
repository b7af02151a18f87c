// The cache's own failures. Callers tell them apart with instanceof; each
// keeps the errno-style `code` of the system error it stands beside (a
// stalled fill is ETIMEDOUT like an idle socket, a digest the cache cannot
// hold is ENOENT like a missing file), for logs and for code that handles
// both alike.
class CacheError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The fill this request followed failed, or its writer (another process) died. */
export class FillFailedError extends CacheError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'EFILLFAILED', options)
  }
}

/** No progress for too long: a followed fill, an upstream body, or a client that stopped reading. */
export class StalledError extends CacheError {
  constructor(message: string) {
    super(message, 'ETIMEDOUT')
  }
}

/** A fill given up on: its client left and nothing else wants the blob. */
export class FillCancelledError extends CacheError {
  constructor(message: string) {
    super(message, 'ECANCELED')
  }
}

/** A body of unknown length that outgrew the cache, or a file larger than any of ours. */
export class TooLargeError extends CacheError {
  constructor(message: string) {
    super(message, 'EFBIG')
  }
}

/** A byte range that does not lie inside the blob. */
export class RangeOutsideBlobError extends CacheError {
  constructor(message: string) {
    super(message, 'ERANGE')
  }
}

/** A digest the cache cannot hold: as good as a missing file. */
export class NotCacheableError extends CacheError {
  constructor(message: string) {
    super(message, 'ENOENT')
  }
}

/** A cache file that is not a regular file (a planted FIFO, directory, device). */
export class NotRegularFileError extends CacheError {
  constructor(message: string) {
    super(message, 'EINVAL')
  }
}
