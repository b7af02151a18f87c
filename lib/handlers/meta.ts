// Small endpoints: /healthz for load balancers and HEALTHCHECK, /help for
// humans checking which registries sit behind which names (and how each
// member of a failover chain is doing), /metrics for
// Prometheus.
import type { ProxyDeps, RequestContext } from '../context.js'
import { unsupported } from '../errors.js'
import { renderSnapshot } from '../metrics-snapshot.js'
import { writeJson } from '../respond.js'

function readOnly(ctx: RequestContext): void {
  if (ctx.req.method !== 'GET' && ctx.req.method !== 'HEAD') throw unsupported(`${ctx.req.method} is not supported here`)
}

export function handleHealthz(ctx: RequestContext): void {
  readOnly(ctx)
  writeJson(ctx.res, 200, { status: 'ok' }, ctx.head)
}

export function handleHelp(ctx: RequestContext, deps: ProxyDeps): void {
  readOnly(ctx)
  writeJson(ctx.res, 200, deps.upstreams.describe(), ctx.head)
}

/** The node's figures: under --workers, every worker's added up (lib/status/node-view.ts). */
export async function handleMetrics(ctx: RequestContext, deps: ProxyDeps): Promise<void> {
  readOnly(ctx)
  const body = renderSnapshot((await deps.node.snapshot()).metrics)
  ctx.res.writeHead(200, {
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  ctx.res.end(ctx.head ? undefined : body)
}
