// The egress rules (lib/upstream/egress.ts) on their own: which addresses
// count as public, how IPv4 hides in IPv6, and what a redirect or realm
// target may reach: the host and port of the upstream it is fetched for,
// --redirect-allow entries, and public addresses; never another upstream's
// host, another port, or an address a name resolved to. A reloaded registry
// map changes the upstreams.
import t from 'tap'
import { canonicalIp, EgressPolicy, isPublicAddress } from '../../lib/upstream/egress.js'

t.test('public and non-public addresses', async (t) => {
  for (const ip of ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '64:ff9b::808:808', '::ffff:8.8.8.8']) {
    t.ok(isPublicAddress(ip), `${ip} is public`)
  }
  for (const ip of [
    '127.0.0.1', '127.255.255.254', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
    '0.0.0.0', '224.0.0.1', '255.255.255.255', '198.18.0.1', '::1', '::', 'fe80::1', 'fd00::1', 'fc00::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '64:ff9b::a00:1', '64:ff9b::10.0.0.1', 'not-an-ip', '',
  ]) {
    t.notOk(isPublicAddress(ip), `${ip || '(empty)'} is not public`)
  }
  t.equal(canonicalIp('::ffff:7f00:2'), '127.0.0.2')
  t.equal(canonicalIp('[::FFFF:10.0.0.1]'), '10.0.0.1')
})

t.test('what a redirect or realm target may reach, per upstream', async (t) => {
  const a = 'http://127.0.0.1:5001'
  const b = 'https://registry.internal'
  const p = new EgressPolicy({ upstreams: [a, b], allow: ['minio.internal', '10.9.0.0/16', '127.0.0.3:9000'] })
  t.ok(p.own(a, '127.0.0.1', 5001), 'an upstream owns its host and port')
  t.ok(p.own(b, 'Registry.Internal.', 443), '… as written, in any case, default port included')
  t.notOk(p.own(a, '127.0.0.1', 5002), 'another port of its host is not its own')
  t.notOk(p.own(a, 'registry.internal', 443), 'another upstream’s host and port are not its own')
  t.notOk(p.own(a, 'localhost', 5001), 'another name for its host is not its own')
  t.notOk(p.own(undefined, '127.0.0.1', 5001), 'a request for no upstream owns nothing')
  t.notOk(p.own('http://127.0.0.9:5001', '127.0.0.9', 5001), 'nor one for an origin not in the map')

  t.equal(p.check('cdn.example', 443, '93.184.216.34'), null, 'public: yes')
  t.not(p.check('127.0.0.1', 9000, '127.0.0.1'), null, 'an upstream’s host, another port: no')
  t.not(p.check('registry.internal', 8443, '10.0.0.5'), null, 'an upstream’s name, another port: no')
  t.not(p.check('10.0.0.5', 443, '10.0.0.5'), null, 'the address its name resolved to: no')
  t.equal(p.check('minio.internal', 9000, '10.0.0.6'), null, '--redirect-allow by name')
  t.equal(p.check('x', 80, '10.9.3.4'), null, '--redirect-allow by CIDR')
  t.equal(p.check('127.0.0.3', 9000, '127.0.0.3'), null, '--redirect-allow host:port')
  t.not(p.check('127.0.0.3', 9001, '127.0.0.3'), null, '… that port only')
  t.not(p.check('metadata.google.internal', 80, '169.254.169.254'), null, 'cloud metadata: no')
  t.not(p.check('evil.example', 80, '127.0.0.2'), null, 'a public name resolving to loopback: no')
  t.not(p.check('2130706434', 80, '127.0.0.2'), null, 'other loopback address: no')
  t.match(p.check('127.0.0.1', 9000, '127.0.0.1'), /--redirect-allow 127\.0\.0\.1:9000/, 'the refusal says what to allow')
  t.equal(p.checkName('cdn.example', 443), null, 'through an outbound proxy: names are the proxy’s business')
  t.not(p.checkName('localhost', 80), null, '… but localhost is known')
  t.not(p.checkName('[::1]', 80), null, '… and so are IP literals')

  p.setUpstreams(['http://127.0.0.2:5001'])
  t.ok(p.own('http://127.0.0.2:5001', '127.0.0.2', 5001), 'after a reload: the new upstream')
  t.notOk(p.own(a, '127.0.0.1', 5001), 'and not the old one')
})
