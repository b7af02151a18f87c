// The registry map's list form: what is accepted, what is refused, how a
// chain shows in /help's map and what identifies it to the blob cache.
import t from 'tap'
import { ConfigError, validateRegistryMap } from '../../lib/config.js'
import { UpstreamSet, upstreamSource } from '../../lib/registry/upstreams.js'

t.test('a list of URLs is a chain; one URL (or a list of one) is a plain entry', async (t) => {
  const map = validateRegistryMap(
    { Docker: ['https://registry-1.docker.io/', 'https://mirror.gcr.io'], quay: 'https://quay.io', one: ['https://ghcr.io'] },
    'm.json',
  )
  t.same(map, { docker: ['https://registry-1.docker.io', 'https://mirror.gcr.io'], quay: 'https://quay.io', one: 'https://ghcr.io' })
  const set = new UpstreamSet(map)
  t.same(set.toJSON(), map, 'the map as configured')
  const docker = set.byKey.get('docker')!
  t.same(docker.chain.members.map((m) => [m.id, m.base]), [
    ['docker', 'https://registry-1.docker.io'],
    ['docker@1', 'https://mirror.gcr.io'],
  ])
  t.equal(docker.dockerHub, true, 'the primary says what the entry is')
  t.equal(set.byNamespace('docker.io'), docker, '?ns= matches the primary')
  t.equal(set.byNamespace('mirror.gcr.io'), undefined, 'and not a fallback')
  t.same(set.urls().sort(), ['https://ghcr.io', 'https://mirror.gcr.io', 'https://quay.io', 'https://registry-1.docker.io'], 'every member is a configured upstream (egress)')
  t.same(set.describe()['docker'], [
    { url: 'https://registry-1.docker.io', healthy: true },
    { url: 'https://mirror.gcr.io', healthy: true },
  ])
  t.equal(set.describe()['quay'], 'https://quay.io', 'a plain entry shows as before')
})

t.test('the cache knows a chain by all its members, in any order', async (t) => {
  const a = new UpstreamSet({ x: ['https://a.test', 'https://b.test'], y: ['https://b.test', 'https://a.test'], z: 'https://a.test' })
  const [x, y, z] = ['x', 'y', 'z'].map((k) => upstreamSource(a.byKey.get(k)!))
  t.equal(x, y, 'the same members: one upstream')
  t.not(x, z, 'the primary alone is another upstream')
  t.equal(z, 'https://a.test', 'a plain entry keeps its source id')
})

t.test('refused', async (t) => {
  const bad: Array<[unknown, RegExp]> = [
    [{ x: [] }, /"x": expected 1 to 8 upstream URLs, got 0/],
    [{ x: Array.from({ length: 9 }, (_, i) => `https://m${i}.test`) }, /expected 1 to 8/],
    [{ x: ['https://a.test', 'ftp://b.test'] }, /"x"\[1\]: "ftp:\/\/b\.test" is not an http\(s\) URL/],
    [{ x: ['https://a.test', 'https://a.test/'] }, /"https:\/\/a\.test" is listed twice/],
    [{ x: ['https://a.test', 5] }, /"x"\[1\]: expected an http\(s\) URL string/],
  ]
  for (const [map, msg] of bad) {
    t.throws(() => validateRegistryMap(map, 'm.json'), msg)
    t.throws(() => validateRegistryMap(map, 'm.json'), ConfigError, 'a ConfigError: exit 2 at start-up, a warning on reload')
  }
})
