// Unit: Accept parsing and matching for cached manifests (lib/manifests/media-types.ts).
import t from 'tap'
import { acceptKey, accepts, essence, parseAccept } from '../../lib/manifests/media-types.js'

const INDEX = 'application/vnd.oci.image.index.v1+json'
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'

t.test('parseAccept', async (t) => {
  t.equal(parseAccept(undefined), null)
  t.equal(parseAccept(''), null)
  t.equal(parseAccept(' , ;q=1'), null)
  t.same(parseAccept(`${INDEX}, ${LIST};q=0.5`), [{ range: INDEX, q: 1 }, { range: LIST, q: 0.5 }])
  t.same(parseAccept(['*/*', 'Application/*']), [{ range: '*/*', q: 1 }, { range: 'application/*', q: 1 }])
  t.same(parseAccept('*/json, text/<x>'), null, 'malformed ranges are dropped')
})

t.test('accepts: the most specific range decides', async (t) => {
  t.ok(accepts(parseAccept(INDEX), INDEX))
  t.notOk(accepts(parseAccept(LIST), INDEX))
  t.ok(accepts(parseAccept('*/*'), INDEX))
  t.ok(accepts(parseAccept('application/*'), INDEX))
  t.notOk(accepts(parseAccept(`${INDEX};q=0, */*`), INDEX))
  t.ok(accepts(parseAccept(`${INDEX};q=0, */*`), LIST))
  t.notOk(accepts(parseAccept('application/*;q=0, */*'), INDEX))
  t.notOk(accepts(null, INDEX), 'no Accept: never from the cache')
})

t.test('acceptKey: order and duplicates do not matter, exclusions do', async (t) => {
  t.equal(acceptKey(parseAccept(`${INDEX}, ${LIST}`)), acceptKey(parseAccept(`${LIST},${INDEX}, ${INDEX};q=0.9`)))
  t.not(acceptKey(parseAccept(`${INDEX};q=0, */*`)), acceptKey(parseAccept(`${INDEX}, */*`)))
  t.equal(acceptKey(null), '-')
})

t.test('acceptKey: only the manifest media types count, so spellings of one request share a key', async (t) => {
  const OCI = 'application/vnd.oci.image.manifest.v1+json'
  const base = acceptKey(parseAccept(`${INDEX}, ${LIST}`))
  for (const spelling of [
    `${LIST};q=0.2, Application/VND.OCI.IMAGE.INDEX.V1+JSON;charset=utf-8`,
    `text/html, ${INDEX} ;q=0.9, application/x-whatever, ${LIST}, image/png;q=1`,
    [`${INDEX}`, ` ${LIST} `],
  ]) {
    t.equal(acceptKey(parseAccept(spelling)), base, JSON.stringify(spelling))
  }
  t.not(acceptKey(parseAccept(`${INDEX}, ${LIST}, ${OCI}`)), base, 'another manifest type: another key')
  t.not(acceptKey(parseAccept('*/*')), acceptKey(parseAccept(`${INDEX}, ${LIST}, ${OCI}`)), 'a wildcard names no type: registries answer differently')
  t.equal(acceptKey(parseAccept('application/*')), acceptKey(parseAccept('*/*, text/*')), 'wildcards that admit the same types')
  t.equal(acceptKey(parseAccept(`${LIST};q=0, ${INDEX}`)), acceptKey(parseAccept(INDEX)), 'a refused type is as good as not named')
  t.equal(acceptKey(parseAccept('text/html')), acceptKey(parseAccept('image/png, application/json')), 'no manifest type at all: one key')
})

t.test('essence', async (t) => {
  t.equal(essence(`${INDEX}; charset=utf-8`), INDEX)
  t.equal(essence('Application/JSON'), 'application/json')
  t.equal(essence('nonsense'), null)
  t.equal(essence(undefined), null)
})
