import t from 'tap'
import { ProxyError } from '../../lib/errors.js'
import { normaliseHost, Router, upstreamName } from '../../lib/registry/route.js'
import { UpstreamSet } from '../../lib/registry/upstreams.js'

const map = {
  default: 'https://registry-1.docker.io',
  docker: 'https://registry-1.docker.io',
  gcr: 'https://gcr.io',
  quay: 'https://quay.io',
  'k8s.gcr': 'https://k8s.gcr.io',
  local: 'http://127.0.0.1:5001',
}
const router = new Router(new UpstreamSet(map), 'mirror.example.com')
const key = (host: string | undefined, ns: string | null = null) => {
  const r = router.resolve({ host, ns })
  return r instanceof ProxyError ? `${r.status} ${r.code}` : r.key
}

t.test('host under the suffix picks that key', async (t) => {
  t.equal(key('gcr.mirror.example.com'), 'gcr')
  t.equal(key('quay.mirror.example.com:5000'), 'quay', 'port stripped')
  t.equal(key('GCR.Mirror.Example.COM'), 'gcr', 'case-insensitive')
  t.equal(key('k8s.gcr.mirror.example.com'), 'k8s.gcr', 'keys may contain dots')
  t.equal(key('gcr.mirror.example.com.'), 'gcr', 'trailing dot of an FQDN')
})

t.test('unknown key under the suffix is a 404, never the default', async (t) => {
  t.equal(key('nope.mirror.example.com'), '404 NAME_UNKNOWN')
  t.equal(key('a.gcr.mirror.example.com'), '404 NAME_UNKNOWN')
})

t.test('hosts naming no key go to default or to ?ns=', async (t) => {
  t.equal(key('mirror.example.com'), 'default', 'bare suffix')
  t.equal(key('127.0.0.1:5000'), 'default', 'IP')
  t.equal(key('[::1]:5000'), 'default', 'IPv6 literal')
  t.equal(key('elsewhere.test'), 'default', 'any other name')
  t.equal(key(undefined), 'default', 'no Host at all')
  t.equal(key('127.0.0.1:5000', 'gcr.io'), 'gcr')
  t.equal(key('mirror.example.com', 'quay.io'), 'quay')
  t.equal(key('127.0.0.1', 'docker.io'), 'docker', 'docker.io means Docker Hub')
  t.equal(key('127.0.0.1', '127.0.0.1:5001'), 'local', 'ns with a port')
  t.equal(key('127.0.0.1', 'GCR.IO'), 'gcr', 'ns is case-insensitive')
})

t.test('an ns that matches nothing is a 404, not the default', async (t) => {
  t.equal(key('127.0.0.1', 'myregistry.local'), '404 NAME_UNKNOWN')
  t.equal(key('127.0.0.1', 'ghcr.io'), '404 NAME_UNKNOWN')
})

t.test('a host under the suffix wins over ns', async (t) => {
  t.equal(key('quay.mirror.example.com', 'gcr.io'), 'quay')
})

t.test('without a suffix every host goes to default', async (t) => {
  const r = new Router(new UpstreamSet(map), '')
  const res = r.resolve({ host: 'gcr.mirror.example.com', ns: null })
  t.equal(res instanceof ProxyError ? res.code : res.key, 'default')
})

t.test('no default configured: a clear 404', async (t) => {
  const r = new Router(new UpstreamSet({ gcr: 'https://gcr.io' }), 'x.test')
  const res = r.resolve({ host: '10.0.0.1', ns: null })
  t.ok(res instanceof ProxyError)
  t.equal((res as ProxyError).status, 404)
})

t.test('Docker Hub names: single segment means library/', async (t) => {
  const set = new UpstreamSet(map)
  t.equal(upstreamName(set.byKey.get('docker')!, 'alpine'), 'library/alpine')
  t.equal(upstreamName(set.byKey.get('default')!, 'alpine'), 'library/alpine')
  t.equal(upstreamName(set.byKey.get('docker')!, 'bitnami/redis'), 'bitnami/redis')
  t.equal(upstreamName(set.byKey.get('gcr')!, 'pause'), 'pause', 'only for Docker Hub')
})

t.test('normaliseHost', async (t) => {
  t.equal(normaliseHost('Example.COM:443'), 'example.com')
  t.equal(normaliseHost('[::1]:80'), '[::1]')
  t.equal(normaliseHost(''), '')
})
