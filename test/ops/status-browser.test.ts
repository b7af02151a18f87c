// The status page in a real browser: headless Chromium loads / from the CLI
// after skopeo pulled an image through it from docker-registry (twice: a
// fill, then hits), lets the page's script fetch status.json and render, and
// the test reads the figures from the DOM it rendered. A screenshot is kept
// in $CRPROXY_ARTIFACTS when set (CI uploads that directory).
import { spawn } from 'node:child_process'
import { mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { requireTools } from '../fixtures/real/available.js'
import { buildImage, pushImage, skopeo } from '../fixtures/real/images.js'
import { startRegistry } from '../fixtures/real/registry.js'

function chromium(args: string[], profile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, '--virtual-time-budget=3000', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'], HOME: profile },
    })
    let out = ''
    let err = ''
    p.stdout.on('data', (c: Buffer) => (out += c.toString()))
    p.stderr.on('data', (c: Buffer) => (err += c.toString()))
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000)
    p.once('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`chromium exited ${code}: ${err.slice(-2000)}`))
    })
  })
}

t.test('headless Chromium renders the figures of a real pull', requireTools(['docker-registry', 'skopeo', 'chromium']), async (t) => {
  const dir = t.testdir()
  const reg = await startRegistry({ dir: join(dir, 'registry') })
  t.teardown(() => reg.close())
  const img = buildImage(join(dir, 'oci'), { seed: 'status-browser', layers: [32 * 1024, 700 * 1024] })
  await pushImage(img.dir, img.ref, `docker://${reg.host}/team/web:1`)
  const blobBytes = img.blobs.reduce((n, b) => n + img.sizes[b]!, 0)
  writeFileSync(join(dir, 'map.json'), JSON.stringify({ default: reg.url }))
  const p = await startCliProxy(['--registry-map', join(dir, 'map.json'), '--cache-dir', join(dir, 'cache'), '--cache-max-size', '100MiB'])
  t.teardown(() => p.close())
  for (const i of [1, 2]) await skopeo(['copy', '--src-tls-verify=false', `docker://127.0.0.1:${p.port}/team/web:1`, `dir:${join(dir, `out${i}`)}`])

  const dom = await chromium(['--dump-dom', `${p.url}/`], join(dir, 'profile'))
  const live = /<body data-live="(\d+)"/.exec(dom)
  t.ok(live, 'the page’s script fetched status.json and rendered it')
  const figure = (k: string) => new RegExp(`data-k="${k}" data-v="([^"]*)"`).exec(dom)?.[1]
  t.equal(Number(figure('bytes-from-upstream')), blobBytes, 'fetched upstream: the blobs pulled')
  t.equal(Number(figure('bytes-from-cache')), blobBytes, 'served from the cache: the second pull')
  t.equal(Number(figure('hit-ratio')), 0.5, 'half of the blob requests were hits')
  t.equal(Number(figure('cache-blobs')), img.blobs.length)
  t.match(dom, '<tr data-repo="default/team/web">', 'the repository is in the most-pulled table')
  t.match(dom, new RegExp(`<tr data-host="${reg.host.replace(/\./g, '\\.')}"><td>${reg.host.replace(/\./g, '\\.')}</td><td>\\d+ s ago</td>`), 'the upstream, with its last success')
  t.match(dom, /<meter min="0" max="104857600" value="\d+">/, 'the cache against its bound')

  const shots = process.env['CRPROXY_ARTIFACTS'] ?? join(dir, 'artifacts')
  mkdirSync(shots, { recursive: true })
  const png = join(shots, 'status-page.png')
  await chromium(['--hide-scrollbars', '--window-size=1000,900', `--screenshot=${png}`, `${p.url}/`], join(dir, 'profile'))
  t.ok(statSync(png).size > 10_000, 'a screenshot')
})
