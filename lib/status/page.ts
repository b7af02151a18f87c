// The status page at /: one HTML document with its style and script inline
// (no external assets: it works offline and behind any firewall). The body
// is rendered on the server; the script fetches status.json every few
// seconds and renders it again with the same function (render.ts). A
// Content-Security-Policy admits exactly this script and style, by hash.
import { createHash } from 'node:crypto'
import { renderStatus } from './render.js'
import type { StatusData } from './status-data.js'

const REFRESH_MS = 5000

const style = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:62em;padding:0 1em;color:#222;background:#fff}
h1{font-size:1.4em;margin:0}h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
header p{margin:.2em 0;color:#555}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0}dt{color:#555}dd{margin:0}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.2em .6em .2em 0;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600;color:#555}td{font-variant-numeric:tabular-nums}.bad{color:#b00}
svg .axis{stroke:#ccc}svg rect.hit{fill:#2a7}svg rect.up{fill:#c60}
span.hit{color:#2a7}span.up{color:#c60}figure{margin:.6em 0}figcaption{color:#555;font-size:.9em}
@media (prefers-color-scheme:dark){body{color:#ddd;background:#161616}h2{border-color:#444}th,td{border-color:#333}dt,header p,th,figcaption{color:#aaa}}
`

// esbuild (tap's TypeScript loader) may wrap functions in __name(); the
// compiled build does not. Either way the source runs as is.
const script = `
var __name = function (f) { return f };
var renderStatus = ${renderStatus.toString()};
function refresh() {
  fetch('status.json', { cache: 'no-store' }).then(function (r) { return r.ok ? r.json() : null }).then(function (d) {
    if (!d) return;
    document.getElementById('status').innerHTML = renderStatus(d);
    document.body.setAttribute('data-live', String(d.now));
  }).catch(function () {});
}
refresh();
setInterval(refresh, ${REFRESH_MS});
`

const hash = (s: string) => `'sha256-${createHash('sha256').update(s).digest('base64')}'`

export const statusPageHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': `default-src 'none'; script-src ${hash(script)}; style-src ${hash(style)}; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

export function statusPage(d: StatusData): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>crproxy status</title><style>${style}</style></head>
<body><main id="status">${renderStatus(d)}</main><script>${script}</script></body></html>
`
}
