// Each member of a chain keeps its own challenge, realm and tokens: the
// challenge a client sees names the member that answered, a token from one
// member's realm is never sent to another member, and a client holding the
// other member's token is asked to log in again (401 with this member's
// realm) rather than refused or, worse, served on a foreign token.
import t from 'tap'
import { ACCEPT_ALL_MANIFESTS, bearerParams, request } from '../fixtures/proxy.js'
import { pullAlpine, startChain } from './fixtures/chain.js'

t.test('no token crosses the members of a chain', async (t) => {
  const s = await startChain(t)
  const ping = await request(s.proxy.url, '/v2/', { host: 'hub.crproxy.test' })
  t.match(bearerParams(ping.headers['www-authenticate'])['realm'], /\/token\/hub\/http\/127\.0\.0\.1:\d+\/token$/, 'the primary’s challenge names the primary')

  t.same(await pullAlpine(s.client, s.a), [], 'pull from the primary')
  const fromA = [...s.tokens].filter(([, realm]) => realm.startsWith('/token/hub/')).map(([tok]) => tok)
  t.ok(fromA.length > 0, 'the client holds a token from the primary’s realm')

  await s.front.set({ kind: 'down' })
  t.same(await pullAlpine(s.client, s.a), [], 'pull from the fallback')
  const fromB = [...s.tokens].filter(([, realm]) => realm.startsWith('/token/hub@1/')).map(([tok]) => tok)
  t.ok(fromB.length > 0, 'the fallback’s challenge named the fallback’s realm (/token/hub@1/…), and the client logged in there')
  const bSaw = s.b.requests.filter((r) => r.server === 'registry').map((r) => String(r.headers.authorization ?? ''))
  t.same(bSaw.filter((a) => fromA.some((tok) => a.includes(tok))), [], 'no primary token reached the fallback')
  t.ok(bSaw.some((a) => fromB.some((tok) => a.includes(tok))), 'the fallback got its own tokens')

  await s.front.set({ kind: 'pass' })
  await s.untilHealthy(0)
  const before = s.front.relayed.length
  t.same(await pullAlpine(s.client, s.a), [], 'pull from the primary again, the client holding a fallback token')
  const aSaw = s.front.relayed.slice(before).map((r) => r.authorization ?? '')
  t.ok(aSaw.length > 0, 'the primary served it')
  t.same(aSaw.filter((a) => fromB.some((tok) => a.includes(tok))), [], 'no fallback token reached the primary')
  t.same(
    s.front.relayed.map((r) => r.authorization ?? '').filter((a) => fromB.some((tok) => a.includes(tok))),
    [],
    'ever',
  )

  // A token request naming a member the entry does not have is refused.
  const bogus = await request(s.proxy.url, '/token/hub@5/http/127.0.0.1:1/token', { host: 'hub.crproxy.test' })
  t.equal(bogus.status, 403, 'a realm path for a member the chain lacks: 403')

  // Basic credentials (or a token this process never relayed) go to the primary only.
  await s.front.set({ kind: 'down' })
  const basic = await request(s.proxy.url, '/v2/library/alpine/manifests/3.19', {
    host: 'hub.crproxy.test',
    headers: { authorization: 'Basic ' + Buffer.from('alice:wonderland').toString('base64'), accept: ACCEPT_ALL_MANIFESTS },
  })
  t.equal(basic.status, 401, 'the fallback, asked without them, challenges')
  t.match(bearerParams(basic.headers['www-authenticate'])['realm'], /\/token\/hub@1\//, 'with its own realm')
  t.notOk(
    s.b.requests.some((r) => String(r.headers.authorization ?? '').startsWith('Basic')),
    'the client’s Basic credentials never reached the fallback registry',
  )
})
