// Self-test of the real-software fixtures (no proxy involved): a Docker
// Hub-like upstream (distribution 2.8 + token server + nginx CDN) is started,
// and skopeo pulls straight from it.
import t, { type Test } from 'tap';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { requireTools } from '../fixtures/real/available.js';
import { startHubLike, type HubLike, type HubImage } from '../fixtures/real/hub.js';
import { startRegistry, blobGetCount, registryRequests } from '../fixtures/real/registry.js';
import { skopeo, MT, ACCEPT_ALL_MANIFESTS } from '../fixtures/real/images.js';
import { sha256 } from '../fixtures/sha256.js'

const TOOLS = ['docker-registry', 'skopeo', 'nginx', 'openssl', 'htpasswd'];

/** pids of processes whose command line mentions `dir` */
function pidsMentioning(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', dir], { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Checks a skopeo `dir:` copy: manifest digest, and every blob file's sha256 = its name. */
function checkDirCopy(t: Test, out: string, img: HubImage, blobs: string[] = img.blobs): void {
  const files = readdirSync(out).sort();
  const manifest = readFileSync(join(out, 'manifest.json'));
  t.equal(sha256(manifest), img.digest, 'manifest.json bytes hash to the pushed digest');
  const blobFiles = files.filter((f) => /^[a-f0-9]{64}$/.test(f));
  t.same(blobFiles.map((f) => `sha256:${f}`).sort(), [...blobs].sort(), 'one file per config/layer blob');
  for (const f of blobFiles) {
    const data = readFileSync(join(out, f));
    t.equal(sha256(data), `sha256:${f}`, `blob ${f.slice(0, 12)} matches its digest`);
    t.equal(data.length, img.sizes[`sha256:${f}`], `blob ${f.slice(0, 12)} has the manifest's size`);
  }
}

t.test('real-software fixtures self-test', requireTools(TOOLS), async (t) => {
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-selftest-'));
  let hub: HubLike | undefined;
  t.teardown(async () => {
    await hub?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  hub = await startHubLike(dir);
  const h = hub;
  t.comment(`hub started in ${Date.now() - started} ms`);
  const host = h.registry.host;
  const expected = ['library/alpine:3.19', 'library/busybox:1.36', 'multi/app:1', 'multi/list:1', 'private/secret:1'];
  t.same(Object.keys(h.images).sort(), expected.sort(), 'all images pushed');
  t.equal(h.images['library/alpine:3.19']?.mediaType, MT.ociManifest);
  t.equal(h.images['library/busybox:1.36']?.mediaType, MT.dockerManifest);
  t.equal(h.images['multi/app:1']?.mediaType, MT.ociIndex);
  t.equal(h.images['multi/list:1']?.mediaType, MT.dockerList);
  t.same(h.images['multi/app:1']?.manifests.map((m) => m.arch).sort(), ['amd64', 'arm64']);
  t.equal(h.images['library/alpine:3.19']?.layers.length, 3);

  await t.test('anonymous pull of library/alpine:3.19, blobs via the CDN', async (t) => {
    const img = h.images['library/alpine:3.19']!;
    const out = join(dir, 'pull-alpine');
    await skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${host}/library/alpine:3.19`, `dir:${out}`]);
    checkDirCopy(t, out, img);

    const cdn = await h.cdn.entries();
    const blobGets = cdn.filter((e) => e.method === 'GET' && e.uri.includes('/docker/registry/v2/blobs/sha256/'));
    const fetched = blobGets.map((e) => 'sha256:' + (e.uri.split('/').at(-2) ?? '')).sort();
    t.same(fetched, [...img.blobs].sort(), 'the CDN served each blob once');
    t.ok(blobGets.every((e) => e.status === 200), 'all CDN blob GETs were 200');
    t.same(cdn.filter((e) => e.authorization), [], 'no request to the CDN carried Authorization');
    t.same(cdn.filter((e) => e.status === 400), [], 'the CDN refused nothing');

    t.equal(await blobGetCount(h.registry), img.blobs.length, 'registry answered one blob GET per blob');
    const reqs = await registryRequests(h.registry);
    t.ok(
      reqs.some((r) => r.method === 'GET' && r.path.includes('/blobs/') && r.status === 307),
      'registry redirected blob GETs (307)',
    );
    const tok = h.tokenServer.requests;
    t.ok(tok.length > 0, 'the token server was asked');
    t.ok(
      tok.some((r) => !r.authorized && r.scopes.includes('repository:library/alpine:pull')),
      'anonymous token request with the pull scope',
    );
  });

  await t.test('private/secret:1 needs alice', async (t) => {
    const img = h.images['private/secret:1']!;
    const src = `docker://${host}/private/secret:1`;
    await t.rejects(
      skopeo(['copy', '--quiet', '--src-tls-verify=false', src, `dir:${join(dir, 'anon-secret')}`]),
      'anonymous pull of a private repo fails',
    );
    await t.rejects(
      skopeo(['copy', '--quiet', '--src-tls-verify=false', '--src-creds', 'alice:wrong', src, `dir:${join(dir, 'bad-secret')}`]),
      'wrong password fails',
    );
    t.ok(
      h.tokenServer.requests.some((r) => r.status === 401),
      'the token server refused the wrong password with 401',
    );
    const out = join(dir, 'pull-secret');
    await skopeo(['copy', '--quiet', '--src-tls-verify=false', '--src-creds', 'alice:wonderland', src, `dir:${out}`]);
    checkDirCopy(t, out, img);
  });

  await t.test('token server: anonymous token for a private repo is refused by the registry; OAuth2 POST works', async (t) => {
    const img = h.images['private/secret:1']!;
    const realm = h.tokenServer.url;
    const q = `service=${encodeURIComponent(h.service)}&scope=${encodeURIComponent('repository:private/secret:pull')}`;
    const anon = (await (await fetch(`${realm}?${q}`)).json()) as { token: string; access_token: string; expires_in: number };
    t.equal(anon.expires_in, 300);
    t.equal(anon.token, anon.access_token);
    const manifestUrl = `${h.registry.url}/v2/private/secret/manifests/1`;
    const denied = await fetch(manifestUrl, { headers: { authorization: `Bearer ${anon.token}`, accept: ACCEPT_ALL_MANIFESTS } });
    await denied.arrayBuffer();
    t.equal(denied.status, 401, 'registry refuses a token that grants nothing');

    const challenge = await fetch(manifestUrl, { headers: { accept: ACCEPT_ALL_MANIFESTS } });
    await challenge.arrayBuffer();
    t.equal(challenge.status, 401);
    t.match(challenge.headers.get('www-authenticate') ?? '', new RegExp(`^Bearer realm="${realm}",service="${h.service}"`));

    const form = new URLSearchParams({
      grant_type: 'password',
      username: 'alice',
      password: 'wonderland',
      service: h.service,
      scope: 'repository:private/secret:pull',
      client_id: 'selftest',
    });
    const pw = await fetch(realm, { method: 'POST', body: form });
    t.equal(pw.status, 200);
    const pwBody = (await pw.json()) as { access_token: string; refresh_token?: string };
    t.type(pwBody.refresh_token, 'string', 'password grant returns a refresh token');
    const rt = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: pwBody.refresh_token ?? '',
      service: h.service,
      scope: 'repository:private/secret:pull',
    });
    const refreshed = (await (await fetch(realm, { method: 'POST', body: rt })).json()) as { access_token: string };
    const ok = await fetch(manifestUrl, {
      headers: { authorization: `Bearer ${refreshed.access_token}`, accept: ACCEPT_ALL_MANIFESTS },
    });
    const body = Buffer.from(await ok.arrayBuffer());
    t.equal(ok.status, 200, 'refreshed token pulls the private manifest');
    t.equal(ok.headers.get('docker-content-digest'), img.digest);
    t.equal(sha256(body), img.digest);
    const bad = await fetch(realm, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'nope', service: h.service }),
    });
    await bad.arrayBuffer();
    t.equal(bad.status, 401, 'bad password in the POST form is 401');

    // A blob GET is a 307 to the CDN; the CDN refuses a leaked Authorization.
    const layer = img.layers[0]!;
    const blob = await fetch(`${h.registry.url}/v2/private/secret/blobs/${layer}`, {
      headers: { authorization: `Bearer ${refreshed.access_token}` },
      redirect: 'manual',
    });
    await blob.arrayBuffer();
    t.equal(blob.status, 307);
    const loc = blob.headers.get('location') ?? '';
    t.match(loc, `${h.cdn.url}/docker/registry/v2/blobs/sha256/${layer.slice(7, 9)}/${layer.slice(7)}/data`);
    const leaked = await fetch(loc, { headers: { authorization: 'Bearer x' } });
    await leaked.arrayBuffer();
    t.equal(leaked.status, 400, 'the CDN answers 400 to a request with Authorization');
    const clean = await fetch(loc);
    t.equal(sha256(Buffer.from(await clean.arrayBuffer())), layer, 'the CDN serves the blob without Authorization');
  });

  await t.test('Docker schema 2 and multi-platform pulls', async (t) => {
    const bb = h.images['library/busybox:1.36']!;
    const out = join(dir, 'pull-busybox');
    await skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${host}/library/busybox:1.36`, `dir:${out}`]);
    checkDirCopy(t, out, bb);

    const multi = h.images['multi/app:1']!;
    const arm = multi.manifests.find((m) => m.arch === 'arm64')!;
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${host}/multi/app@${arm.digest}`]);
    t.equal(sha256(raw.stdout), arm.digest, 'child manifest by digest');
    const outArm = join(dir, 'pull-multi-arm64');
    await skopeo([
      '--override-arch', 'arm64', 'copy', '--quiet', '--src-tls-verify=false',
      `docker://${host}/multi/app:1`, `dir:${outArm}`,
    ]);
    const armManifest = readFileSync(join(outArm, 'manifest.json'));
    t.equal(sha256(armManifest), arm.digest, 'platform selection picked the arm64 image');
  });

  await t.test('htpasswd registry fixture', async (t) => {
    const reg = await startRegistry({ dir: join(dir, 'basic'), auth: { kind: 'htpasswd', users: { bob: 'builder' } } });
    t.teardown(() => reg.close());
    const anon = await fetch(`${reg.url}/v2/`);
    await anon.arrayBuffer();
    t.equal(anon.status, 401);
    t.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    const ok = await fetch(`${reg.url}/v2/`, {
      headers: { authorization: 'Basic ' + Buffer.from('bob:builder').toString('base64') },
    });
    await ok.arrayBuffer();
    t.equal(ok.status, 200);
    const bad = await fetch(`${reg.url}/v2/`, {
      headers: { authorization: 'Basic ' + Buffer.from('bob:nope').toString('base64') },
    });
    await bad.arrayBuffer();
    t.equal(bad.status, 401);
  });

  await t.test('teardown leaves no processes', async (t) => {
    const pids = [h.registry.pid, h.cdn.pid];
    t.ok(pids.every(alive), 'registry and nginx run before close');
    await h.close();
    hub = undefined;
    t.notOk(pids.some(alive), 'registry and nginx are gone after close');
    t.same(pidsMentioning(dir), [], 'no process mentions the fixture dir');
  });
  t.comment(`self-test took ${Date.now() - started} ms`);
});
