// Who may be served a cached blob. The cache is content-addressed and shared,
// but the upstream decides who may read what, so a hit is served only when
// both facts are known for this request:
//   1. the upstream accepted this client's credential (Authorization value,
//      or none) for this repository within the last `ttl` — recorded whenever
//      the upstream answers 2xx/304 to a manifest, tags or blob request;
//   2. this digest was served by this upstream for this repository.
// When either is unknown (first pull after a restart, a new token) the
// handler asks the upstream with a HEAD and records the answer. An anonymous
// or token pull of a public image records (1) on its manifest request and (2)
// on its first fill, so repeated pulls pay no extra round trip.
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'

export interface AccessGrantsOptions {
  /** How long an accepted credential is trusted without asking again. */
  ttl: number
  maxCredentials?: number
  maxBlobLinks?: number
}

export class AccessGrants {
  private readonly accepted: LRUCache<string, true>
  private readonly links: LRUCache<string, true>

  constructor(opts: AccessGrantsOptions) {
    this.accepted = new LRUCache({ max: opts.maxCredentials ?? 50_000, ttl: opts.ttl })
    this.links = new LRUCache({ max: opts.maxBlobLinks ?? 200_000 })
  }

  private static credential(authorization: string | undefined): string {
    // Hashed so that no token sits in memory longer than the request needs it.
    return authorization ? createHash('sha256').update(authorization).digest('base64url') : '-'
  }

  recordAccepted(upstream: string, repo: string, authorization: string | undefined): void {
    this.accepted.set(`${upstream} ${repo} ${AccessGrants.credential(authorization)}`, true)
  }

  recordBlob(upstream: string, repo: string, digest: string): void {
    this.links.set(`${upstream} ${repo} ${digest}`, true)
  }

  mayServe(upstream: string, repo: string, digest: string, authorization: string | undefined): boolean {
    return (
      this.links.has(`${upstream} ${repo} ${digest}`) &&
      this.accepted.has(`${upstream} ${repo} ${AccessGrants.credential(authorization)}`)
    )
  }
}
