// The status page at / and its data at /status.json (lib/status/): the
// node's figures, the same snapshot /metrics renders. Off with --no-status,
// and then / is an unknown path again.
import { version } from '../build-info.js'
import type { ProxyDeps, RequestContext } from '../context.js'
import { unsupported } from '../errors.js'
import { statusPage, statusPageHeaders } from '../status/page.js'
import { statusData, type StatusData } from '../status/status-data.js'

async function current(ctx: RequestContext, deps: ProxyDeps): Promise<StatusData> {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') throw unsupported(`${ctx.req.method} is not supported here`)
  return statusData(await deps.node.snapshot(), { version, cacheMaxSize: deps.status.cacheMaxSize })
}

export async function handleStatusPage(ctx: RequestContext, deps: ProxyDeps): Promise<void> {
  const body = statusPage(await current(ctx, deps))
  ctx.res.writeHead(200, { ...statusPageHeaders, 'content-length': Buffer.byteLength(body) })
  ctx.res.end(ctx.head ? undefined : body)
}

export async function handleStatusJson(ctx: RequestContext, deps: ProxyDeps): Promise<void> {
  const body = JSON.stringify(await current(ctx, deps))
  ctx.res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  })
  ctx.res.end(ctx.head ? undefined : body)
}
