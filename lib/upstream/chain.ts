// A map entry's upstreams in order: the primary, then its fallbacks
// (lib/upstream/failover.ts uses them; lib/registry/upstreams.ts builds them).
import type { MemberHealth } from './health.js'

export interface ChainMember {
  /** `<key>` for the primary, `<key>@<n>` for the n-th fallback: realms and tokens go by it. */
  id: string
  index: number
  url: URL
  /** The URL without its trailing slash: `<base>/v2/…`. */
  base: string
  health: MemberHealth
}

export interface Chain {
  key: string
  members: ChainMember[]
}

/** `docker@1` → entry `docker`, member 1; `docker` → member 0. */
export function parseMemberId(id: string): { key: string; index: number } {
  const m = /^(.*)@(\d{1,2})$/.exec(id)
  return m ? { key: m[1]!, index: Number(m[2]) } : { key: id, index: 0 }
}
