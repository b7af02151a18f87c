// The status page's body from /status.json. The same function renders the
// page on the server (so it shows without JavaScript) and, as its own source
// text, in the browser every few seconds (page.ts): it must stay
// self-contained, with no imports and nothing from outside its body.
// Everything shown is escaped: repository names come from clients.
import type { StatusData } from './status-data.js'

export function renderStatus(d: StatusData): string {
  const esc = (v: unknown): string =>
    String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string)
  const bytes = (n: number): string => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    let i = 0
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024
      i++
    }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i]
  }
  const ago = (t: number | undefined): string => {
    if (t === undefined) return '—'
    const s = Math.max(0, Math.round((d.now - t) / 1000))
    return s < 60 ? s + ' s ago' : s < 3600 ? Math.floor(s / 60) + ' min ago' : Math.floor(s / 3600) + ' h ago'
  }
  const duration = (s: number): string => {
    const two = (n: number, a: string, r: number, b: string) => n + ' ' + a + (r ? ' ' + r + ' ' + b : '')
    if (s < 60) return s + ' s'
    if (s < 3600) return Math.floor(s / 60) + ' min'
    if (s < 86400) return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'min')
    return two(Math.floor(s / 86400), 'd', Math.floor((s % 86400) / 3600), 'h')
  }
  const ms = (s: number | undefined): string => (s === undefined ? '—' : s < 1 ? Math.round(s * 1000) + ' ms' : s.toFixed(2) + ' s')
  const pct = (r: number | null): string => (r === null ? '—' : (r * 100).toFixed(1) + ' %')
  /** A figure with its raw value in data-v, for scripts and tests. */
  const fig = (key: string, raw: number | string, shown: string): string => `<span data-k="${esc(key)}" data-v="${esc(raw)}">${esc(shown)}</span>`
  /** One pair of bars per minute, the newest at the right; a minute with nothing shows nothing. */
  const bars = (points: StatusData['history'], max: number): string => {
    let out = ''
    points.forEach((p, i) => {
      const x = (60 - points.length + i) * 5
      const bar = (v: number, dx: number, cls: string) => {
        const hgt = Math.max(v > 0 ? 1 : 0, Math.round((v / max) * 38))
        if (hgt > 0) out += `<rect class="${cls}" x="${x + dx}" y="${40 - hgt}" width="2" height="${hgt}"/>`
      }
      bar(p.bytesFromCache, 0, 'hit')
      bar(p.bytesFromUpstream, 2, 'up')
    })
    return out
  }

  let h = `<header><h1>crproxy ${esc(d.version)}</h1><p>up ${esc(duration(d.uptimeSeconds))}`
  h += ` · ${fig('processes', d.processes, d.processes + (d.processes === 1 ? ' process' : ' processes'))}`
  h += ` · as of ${esc(new Date(d.now).toISOString().slice(11, 19))} UTC</p></header>`

  const c = d.cache
  h += '<section><h2>Cache</h2>'
  if (!c) h += '<p>No cache (start with --cache-dir).</p>'
  else {
    const bound = c.maxBytes ? ` of ${bytes(c.maxBytes)}` : ' (unbounded)'
    h += '<dl>'
    h += `<dt>Size</dt><dd>${fig('cache-bytes', c.bytes, bytes(c.bytes))}${esc(bound)}, ${fig('cache-blobs', c.blobs, c.blobs + ' blobs')}`
    if (c.maxBytes) h += ` <meter min="0" max="${c.maxBytes}" value="${c.bytes}"></meter>`
    h += '</dd>'
    h += `<dt>Hit ratio</dt><dd>${fig('hit-ratio', c.hitRatio ?? '', pct(c.hitRatio))} (${fig('hits', c.hits, String(c.hits))} hits, ${fig('misses', c.misses, String(c.misses))} misses)</dd>`
    h += `<dt>Served from the cache</dt><dd>${fig('bytes-from-cache', c.bytesFromCache, bytes(c.bytesFromCache))} (bandwidth saved)</dd>`
    h += `<dt>Fetched upstream</dt><dd>${fig('bytes-from-upstream', c.bytesFromUpstream, bytes(c.bytesFromUpstream))}</dd>`
    h += '</dl>'
    const max = Math.max(1, ...d.history.map((p) => Math.max(p.bytesFromCache, p.bytesFromUpstream)))
    h += `<figure><svg viewBox="0 0 300 42" width="300" height="42" role="img" aria-label="bytes per minute, last hour">`
    h += `<line x1="0" y1="40.5" x2="300" y2="40.5" class="axis"/>${bars(d.history, max)}</svg>`
    h += `<figcaption>Last hour, per minute (peak ${esc(bytes(max))}): <span class="hit">■</span> from the cache, <span class="up">■</span> fetched upstream</figcaption></figure>`
  }
  h += '</section>'

  h += '<section><h2>Upstreams</h2>'
  if (d.upstreams.length === 0) h += '<p>No upstream requests yet.</p>'
  else {
    h += '<table><thead><tr><th>Host</th><th>Last success</th><th>Last error</th><th>p50</th><th>p99</th><th>Requests</th><th>Errors</th><th>Rate limit</th></tr></thead><tbody>'
    for (const u of d.upstreams) {
      const rl = u.rateLimit
      let limit = '—'
      if (rl) {
        const parts: string[] = []
        if (rl.remaining !== undefined) parts.push(rl.remaining + (rl.limit !== undefined ? ' of ' + rl.limit : '') + ' left')
        else if (rl.limit !== undefined) parts.push('limit ' + rl.limit)
        if (rl.windowSeconds !== undefined) parts.push('per ' + duration(rl.windowSeconds))
        if (rl.retryAfterSeconds !== undefined) parts.push('retry after ' + duration(rl.retryAfterSeconds))
        limit = parts.join(' ') + ' (' + ago(rl.at) + ')'
      }
      const err = u.lastError ? `${u.lastError.what}, ${ago(u.lastError.at)}` : '—'
      h += `<tr data-host="${esc(u.host)}"><td>${esc(u.host)}</td><td>${esc(ago(u.lastSuccess))}</td><td${u.lastError && (u.lastSuccess ?? 0) < u.lastError.at ? ' class="bad"' : ''}>${esc(err)}</td>`
      h += `<td>${esc(ms(u.p50Seconds))}</td><td>${esc(ms(u.p99Seconds))}</td><td>${esc(u.requests)}</td><td>${esc(u.errors)}</td><td>${esc(limit)}</td></tr>`
    }
    h += '</tbody></table>'
  }
  h += '</section>'

  h += `<section><h2>Fills in flight</h2>`
  if (d.fills.length === 0) h += '<p>None.</p>'
  else {
    h += '<table><thead><tr><th>Blob</th><th>Upstream</th><th>Progress</th></tr></thead><tbody>'
    for (const f of d.fills) {
      const progress = f.size ? `<progress max="${f.size}" value="${f.written}"></progress> ${esc(bytes(f.written))} of ${esc(bytes(f.size))}` : esc(bytes(f.written))
      h += `<tr><td title="${esc(f.digest)}">${esc(f.digest.slice(0, 19))}…</td><td>${esc(f.upstream)}</td><td>${progress}</td></tr>`
    }
    h += '</tbody></table>'
  }
  h += '</section>'

  h += '<section><h2>Most pulled</h2>'
  if (d.repositories.length === 0) h += '<p>Nothing pulled yet.</p>'
  else {
    h += '<table><thead><tr><th>Repository</th><th>Bytes sent</th></tr></thead><tbody>'
    for (const r of d.repositories) h += `<tr data-repo="${esc(r.name)}"><td>${esc(r.name)}</td><td>${fig('repo-bytes', r.bytes, bytes(r.bytes))}</td></tr>`
    h += '</tbody></table>'
  }
  h += '</section>'
  return h
}
