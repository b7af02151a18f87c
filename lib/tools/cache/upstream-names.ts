// origins/ records upstreams by source id (a hash of the upstream URL,
// lib/cache/paths.ts); the registry map names them. Ids no entry of the map
// produces (an upstream since removed from it) are shown as they are.
import { sourceId } from '../../cache/paths.js'
import { upstreamSource, UpstreamSet, type UpstreamList } from '../../registry/upstreams.js'

export type UpstreamNames = (sid: string) => string

export function upstreamNames(map: Record<string, UpstreamList> | undefined): UpstreamNames {
  const names = new Map<string, string>()
  if (map) {
    // Named keys before `default`: `docker`, not `default`, for Docker Hub.
    const ups = [...new UpstreamSet(map).byKey.values()].sort((a, b) => Number(a.key === 'default') - Number(b.key === 'default'))
    for (const u of ups) {
      const sid = sourceId(upstreamSource(u))
      if (!names.has(sid)) names.set(sid, u.key)
    }
  }
  return (sid) => names.get(sid) ?? sid
}
