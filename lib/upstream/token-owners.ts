// Which member of a failover chain issued a bearer token, so that no token
// crosses members: a token relayed from one member's realm (lib/handlers/
// token.ts) is sent to that member only. Kept as hashes, bounded: a token
// pushed out (or issued before a restart, or to another worker) is unknown,
// and an unknown credential goes to the chain's primary only; a fallback
// then answers 401 with its own challenge, and the client asks its realm.
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'

/** Tokens remembered; a pull uses one per repository. */
export const MAX_TOKEN_OWNERS = 50_000

const hash = (authorization: string) => createHash('sha256').update(authorization).digest('base64url')

export class TokenOwners {
  readonly #owners = new LRUCache<string, string>({ max: MAX_TOKEN_OWNERS })

  /** Records a token issued by `member` (a chain member id). */
  record(token: string, member: string): void {
    this.#owners.set(hash(`Bearer ${token}`), member)
  }

  /** The member that issued the token in this Authorization value, if known. */
  ownerOf(authorization: string): string | undefined {
    const m = /^bearer\s+(\S+)\s*$/i.exec(authorization)
    return m ? this.#owners.get(hash(`Bearer ${m[1]}`)) : undefined
  }
}
