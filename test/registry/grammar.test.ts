import t from 'tap'
import { isDigest, isName, parseV2Path } from '../../lib/registry/grammar.js'

const hex = 'a'.repeat(64)

t.test('names follow the distribution grammar', async (t) => {
  for (const ok of ['alpine', 'library/alpine', 'a/b/c', 'my-app', 'my__app', 'my.app', 'a--b', 'x0/y_1']) {
    t.ok(isName(ok), ok)
  }
  for (const bad of ['', 'Alpine', '-a', 'a-', 'a/', '/a', 'a//b', 'a/../b', '..', 'a b', 'a___b', 'a.-b', 'x'.repeat(256)]) {
    t.notOk(isName(bad), JSON.stringify(bad))
  }
})

t.test('digests: sha256 and sha512 hex only', async (t) => {
  t.ok(isDigest(`sha256:${hex}`))
  t.ok(isDigest(`sha512:${'b'.repeat(128)}`))
  t.notOk(isDigest(`sha256:${hex.toUpperCase()}`))
  t.notOk(isDigest(`sha256:${hex}0`))
  t.notOk(isDigest(`md5:${hex}`))
  t.notOk(isDigest(`sha256:../../${hex.slice(6)}`))
})

t.test('paths', async (t) => {
  t.same(parseV2Path('/v2/'), { kind: 'base' })
  t.same(parseV2Path('/v2'), { kind: 'base' })
  t.same(parseV2Path('/v2/library/alpine/manifests/3.19'), {
    kind: 'manifests', name: 'library/alpine', reference: '3.19', byDigest: false,
  })
  t.same(parseV2Path(`/v2/a/manifests/sha256:${hex}`), { kind: 'manifests', name: 'a', reference: `sha256:${hex}`, byDigest: true })
  t.same(parseV2Path(`/v2/a/b/blobs/sha256:${hex}`), { kind: 'blobs', name: 'a/b', digest: `sha256:${hex}` })
  t.same(parseV2Path('/v2/a/tags/list'), { kind: 'tags', name: 'a' })
  t.same(parseV2Path(`/v2/a/referrers/sha256:${hex}`), { kind: 'referrers', name: 'a', digest: `sha256:${hex}` })
  // A repository may itself be called "manifests" or "blobs".
  t.same(parseV2Path('/v2/blobs/manifests/latest'), { kind: 'manifests', name: 'blobs', reference: 'latest', byDigest: false })
})

t.test('hostile paths are refused before anything else', async (t) => {
  const invalid = (p: string) => 'invalid' in parseV2Path(p)
  t.ok(invalid(`/v2/../etc/blobs/sha256:${hex}`))
  t.ok(invalid(`/v2/a/%2e%2e/blobs/sha256:${hex}`))
  t.ok(invalid(`/v2/a%2fb/manifests/x`))
  t.ok(invalid(`/v2/a\\b/manifests/x`))
  t.ok(invalid('/v2/a/manifests/x\0'))
  t.ok(invalid('/v2/a/blobs/sha256:xyz'))
  t.ok(invalid('/v2/a/blobs/latest'))
  t.ok(invalid('/v2/a/manifests/' + 'x'.repeat(129)))
  t.ok(invalid('/v2/a/manifests/sha256:short'))
  t.ok(invalid('/v2/a/unknown/x'))
  t.match(parseV2Path('/v2/a/blobs/sha256:xyz'), { invalid: 'digest' })
  t.match(parseV2Path('/v2/A/manifests/x'), { invalid: 'name' })
})
