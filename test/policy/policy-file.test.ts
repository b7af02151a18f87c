// The policy file: globs, first match wins, the default, what tag rules mean
// for requests by digest, and the mistakes a file is refused for (the CLI
// exits 2 on them at start-up, and keeps the running policy on SIGHUP).
import t from 'tap'
import { ConfigError } from '../../lib/config.js'
import { decide } from '../../lib/policy/policy.js'
import { parsePolicy } from '../../lib/policy/policy-file.js'
import { repositoryGlob } from '../../lib/policy/glob.js'

t.test('repository globs: * is one segment, ** any number (none included)', async (t) => {
  const cases: Array<[string, string, boolean]> = [
    ['docker/library/*', 'docker/library/alpine', true],
    ['docker/library/*', 'docker/library/a/b', false],
    ['docker/library/*', 'docker/other/alpine', false],
    ['gcr/distroless/**', 'gcr/distroless/static', true],
    ['gcr/distroless/**', 'gcr/distroless/static/debian12', true],
    ['gcr/distroless/**', 'gcr/distroless', true],
    ['gcr/distroless/**', 'gcr/distrolessx/static', false],
    ['*/library/*', 'quay/library/x', true],
    ['**/alpine', 'docker/library/alpine', true],
    ['docker/**/alpine', 'docker/library/alpine', true],
    ['docker/**/alpine', 'docker/alpine', true],
    ['docker/lib*/a*', 'docker/library/alpine', true],
    ['docker/library/alp.ne', 'docker/library/alpine', false],
    ['**', 'anything/at/all', true],
  ]
  for (const [glob, subject, want] of cases) t.equal(repositoryGlob(glob).test(subject), want, `${glob} ${want ? 'matches' : 'does not match'} ${subject}`)
})

const file = {
  default: 'deny',
  rules: [
    { name: 'no-latest', action: 'deny', repository: 'docker/**', tag: 'latest' },
    { name: 'alpine-3', action: 'allow', repository: 'docker/library/alpine', tag: '3.*' },
    { action: 'allow', repository: 'docker/library/busybox' },
    { name: 'no-private', action: 'deny', repository: 'docker/private/**' },
  ],
}

t.test('first match wins; the default decides the rest', async (t) => {
  const p = parsePolicy(JSON.stringify(file), 'p.json')
  t.same(decide(p, { key: 'docker', name: 'library/alpine', tag: '3.19' }), { action: 'allow', rule: 'alpine-3' })
  t.same(decide(p, { key: 'docker', name: 'library/alpine', tag: 'latest' }), { action: 'deny', rule: 'no-latest' })
  t.same(decide(p, { key: 'docker', name: 'library/alpine', tag: 'edge' }), { action: 'deny', rule: 'default' })
  t.same(decide(p, { key: 'docker', name: 'library/busybox', tag: 'latest' }), { action: 'deny', rule: 'no-latest' }, 'an earlier deny beats a later allow')
  t.same(decide(p, { key: 'docker', name: 'library/busybox', tag: '1.36' }), { action: 'allow', rule: 'rule 3' }, 'an unnamed rule is named by its place')
  t.same(decide(p, { key: 'gcr', name: 'library/busybox', tag: '1.36' }), { action: 'deny', rule: 'default' }, 'the map key is part of the match')
})

t.test('by digest: tag rules govern tags; an allow opens the repository’s digests, a deny does not close them', async (t) => {
  const p = parsePolicy(JSON.stringify(file), 'p.json')
  t.same(decide(p, { key: 'docker', name: 'library/alpine' }), { action: 'allow', rule: 'alpine-3' }, 'blobs and manifests by digest of a repository some tags of which are allowed')
  t.same(decide(p, { key: 'docker', name: 'library/busybox' }), { action: 'allow', rule: 'rule 3' }, 'no-latest does not block pinning by digest')
  t.same(decide(p, { key: 'docker', name: 'private/x' }), { action: 'deny', rule: 'no-private' }, 'a repository rule without a tag does')
  t.same(decide(p, { key: 'docker', name: 'library/redis' }), { action: 'deny', rule: 'default' })
})

t.test('YAML', async (t) => {
  const yaml = `# who may pull what
default: deny
rules:
  - name: no-latest   # never a moving tag
    action: deny
    repository: "docker/**"
    tag: latest
  - action: allow
    repository: 'docker/library/*'
`
  const p = parsePolicy(yaml, 'p.yaml')
  t.equal(p.default, 'deny')
  t.same(p.rules.map((r) => [r.name, r.action, r.repository, r.tag]), [
    ['no-latest', 'deny', 'docker/**', 'latest'],
    ['rule 2', 'allow', 'docker/library/*', undefined],
  ])
  t.same(decide(p, { key: 'docker', name: 'library/alpine', tag: 'latest' }), { action: 'deny', rule: 'no-latest' })
  t.same(decide(p, { key: 'docker', name: 'library/alpine', tag: '3' }), { action: 'allow', rule: 'rule 2' })
})

t.test('mistakes are refused, naming the file, the rule and the field', async (t) => {
  const bad: Array<[string, string, RegExp]> = [
    ['{"default": "deny", "rules": [', 'p.json', /p\.json: not valid JSON: line 1/],
    ['{"rules": []}', 'p.json', /"default" \(allow or deny\) is required/],
    ['{"default": "maybe"}', 'p.json', /"default": expected "allow" or "deny"/],
    ['{"default": "deny", "rulez": []}', 'p.json', /unknown field "rulez"/],
    ['{"default": "deny", "rules": [{"action": "allow", "repository": "docker/library/*", "tags": "x"}]}', 'p.json', /rule 1: unknown field "tags"/],
    ['{"default": "deny", "rules": [{"action": "permit", "repository": "docker/x"}]}', 'p.json', /rule 1: "action": expected/],
    ['{"default": "deny", "rules": [{"action": "allow", "repository": "Docker/X"}]}', 'p.json', /rule 1: "repository" must be/],
    ['{"default": "deny", "rules": [{"action": "allow", "repository": "alpine"}]}', 'p.json', /<map key>\/<repository glob>/],
    ['{"default": "deny", "rules": [{"action": "allow", "repository": "d/x", "tag": "a/b"}]}', 'p.json', /"tag" must be a tag glob/],
    ['{"default": "deny", "rules": [{"name": "a", "action": "allow", "repository": "d/x"}, {"name": "a", "action": "deny", "repository": "d/y"}]}', 'p.json', /rule 2: name "a" is used twice/],
    ['default: deny\nrules:\n  - action: allow\n    repository: *\n', 'p.yaml', /p\.yaml: line 4: unsupported value \(quote it/],
    ['default: deny\nrules:\n  - action: allow\n      repository: x/y\n', 'p.yml', /line 4: expected "- key: value" or a key aligned/],
    ['default: [deny]\n', 'p.yaml', /line 1: unsupported value/],
  ]
  for (const [text, source, msg] of bad) {
    t.throws(() => parsePolicy(text, source), msg, JSON.stringify(text))
    try {
      parsePolicy(text, source)
    } catch (err) {
      t.type(err, ConfigError, 'a ConfigError (exit 2 at start-up)')
    }
  }
})
