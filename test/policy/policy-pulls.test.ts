// --policy on the real CLI: allowed pulls go through, denied ones get 403
// DENIED naming the rule (GET and HEAD, manifests and blobs), tag rules
// govern tags while digests follow the repository, denials are counted per
// rule, SIGHUP loads a new file and keeps the running policy when the new
// file is broken, and a broken file at start-up exits 2.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { ACCEPT_ALL_MANIFESTS, PullClient, request } from '../fixtures/proxy.js'
import { sha256 } from '../fixtures/sha256.js'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { oneCleanLine, run } from '../cli/fixtures/run-cli.js'

t.test('a broken policy file at start-up: exit 2, one line naming the file', async (t) => {
  const dir = t.testdir({ 'bad.json': '{"default": "deny", "rules": [{"action": "allow", "repository": "docker/x", "tags": "v*"}]}' })
  oneCleanLine(t, run(['--listen', '127.0.0.1:0', '--policy', join(dir, 'bad.json')]), /policy .*bad\.json: rule 1: unknown field "tags"/)
  oneCleanLine(t, run(['--listen', '127.0.0.1:0', '--policy', join(dir, 'missing.json')]), /policy .*missing\.json: cannot read/)
})

t.test('allow, deny, tag rules, digests, metrics and reload', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const mapFile = join(dir, 'map.json')
  writeFileSync(mapFile, JSON.stringify({ hub: hub.registryUrl }))
  const policyFile = join(dir, 'policy.json')
  writeFileSync(
    policyFile,
    JSON.stringify({
      default: 'deny',
      rules: [
        { name: 'no-latest', action: 'deny', repository: 'hub/**', tag: 'latest' },
        { name: 'alpine-3', action: 'allow', repository: 'hub/library/alpine', tag: '3.*' },
        { name: 'busybox', action: 'allow', repository: 'hub/library/busybox' },
      ],
    }),
  )
  const p = await startCliProxy([
    '--listen', '127.0.0.1:0', '--registry-map', mapFile, '--domain-suffix', 'crproxy.test',
    '--redirect-allow', hub.redirectAllow.join(','), '--policy', policyFile,
  ], { listen: false })
  t.teardown(() => p.close())
  const c = new PullClient(p.url, { host: 'hub.crproxy.test' })
  const manifest = (repo: string, ref: string, method = 'GET') => c.get(`/v2/${repo}/manifests/${ref}`, { accept: ACCEPT_ALL_MANIFESTS }, method)
  const deniedBy = async (r: { status: number; body: Buffer }, rule: string, what: string) => {
    t.equal(r.status, 403, `${what}: 403`)
    if (r.body.length) {
      const e = JSON.parse(r.body.toString()) as { errors: Array<{ code: string; message: string; detail: unknown }> }
      t.equal(e.errors[0]!.code, 'DENIED', `${what}: DENIED`)
      t.match(e.errors[0]!.message, `policy rule "${rule}"`, `${what}: names the rule`)
      t.same(e.errors[0]!.detail, { rule })
    }
  }

  const alpine = hub.images['library/alpine:3.19']!
  const ok = await manifest('library/alpine', '3.19')
  t.equal(ok.status, 200, 'allowed by tag: alpine:3.19')
  t.equal(sha256(ok.body), alpine.digest)
  for (const d of [...alpine.platformManifests!.map((m) => m.digest)]) {
    t.equal((await manifest('library/alpine', d)).status, 200, 'its manifests by digest: allowed (the repository has allowed tags)')
  }
  for (const d of alpine.blobs) t.equal((await c.get(`/v2/library/alpine/blobs/${d}`)).status, 200, `blob ${d.slice(7, 19)}: allowed`)

  await deniedBy(await manifest('library/alpine', 'latest'), 'no-latest', 'alpine:latest')
  await deniedBy(await manifest('library/alpine', 'latest', 'HEAD'), 'no-latest', 'HEAD alpine:latest')
  await deniedBy(await manifest('library/busybox', 'latest'), 'no-latest', 'busybox:latest (the earlier deny wins)')
  const busybox = hub.images['library/busybox:1.36']!
  t.equal((await manifest('library/busybox', '1.36')).status, 200, 'busybox:1.36 allowed by its repository rule')
  t.equal((await manifest('library/busybox', busybox.digest)).status, 200, 'busybox by digest: the tag deny does not block a pin')
  await deniedBy(await manifest('private/secret', '1'), 'default', 'an unlisted repository')
  const secret = hub.images['private/secret:1']!
  await deniedBy(await c.get(`/v2/private/secret/blobs/${secret.blobs[0]}`), 'default', 'its blob')
  t.equal(hub.count('registry', undefined, '/v2/private/'), 0, 'a denied pull never reached the upstream')

  const metrics = async () => (await request(p.url, '/metrics')).body.toString()
  let m = await metrics()
  t.match(m, /crproxy_policy_denials_total\{rule="no-latest"\} 3/, 'denials counted per rule')
  t.match(m, /crproxy_policy_denials_total\{rule="default"\} 2/)

  // Reload: busybox is closed, private/secret opened.
  writeFileSync(
    policyFile,
    `default: allow
rules:
  - name: no-busybox
    action: deny
    repository: hub/library/busybox
`,
  )
  // The new file is YAML under a .json name: JSON is what that name is read as.
  p.proc.kill('SIGHUP')
  await p.waitFor(/WARN  policy reload failed: keeping the current policy .*not valid JSON/)
  await deniedBy(await manifest('private/secret', '1'), 'default', 'the running policy stays after a broken file')
  t.equal(p.proc.exitCode, null, 'still running')

  writeFileSync(policyFile, JSON.stringify({ default: 'allow', rules: [{ name: 'no-busybox', action: 'deny', repository: 'hub/library/busybox' }] }))
  p.proc.kill('SIGHUP')
  await p.waitFor(/INFO  policy reloaded .*rules=1 default=allow/)
  await deniedBy(await manifest('library/busybox', '1.36'), 'no-busybox', 'busybox closed after the reload')
  await deniedBy(await manifest('library/busybox', busybox.digest), 'no-busybox', 'by digest too (a repository rule)')
  t.equal((await manifest('library/alpine', 'latest')).status, 200, 'alpine:latest allowed now')
  const secretPull = new PullClient(p.url, { host: 'hub.crproxy.test', basic: 'alice:wonderland' })
  t.equal((await secretPull.get('/v2/private/secret/manifests/1', { accept: ACCEPT_ALL_MANIFESTS })).status, 200, 'private/secret allowed now (with credentials)')
  m = await metrics()
  t.match(m, /crproxy_policy_denials_total\{rule="no-busybox"\} 2/)
})
