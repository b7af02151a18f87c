import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startHubLike } from '../../fixtures/real/hub.js'
import { spawnCrproxy } from '../../fixtures/cli-proxy.js'
const dir = '/tmp/exp/env'
mkdirSync(dir, { recursive: true })
const hub = await startHubLike(join(dir, 'hub'))
const mapFile = join(dir, 'registrymap.json')
writeFileSync(mapFile, JSON.stringify({ default: hub.registry.url, hub: hub.registry.url }))
const proxy = await spawnCrproxy(['--registry-map', mapFile, '--domain-suffix', 'crproxy.test', '--cache-dir', join(dir, 'cache')], { DEBUG: '1' })
writeFileSync(join(dir, 'info.json'), JSON.stringify({ registry: hub.registry.host, cdn: hub.cdn.url, proxy: proxy.port, images: hub.images, reglog: hub.registry.logPath }, null, 2))
setInterval(() => writeFileSync(join(dir, 'proxy.log'), proxy.log()), 500)
process.on('SIGTERM', async () => { await proxy.close(); await hub.close(); process.exit(0) })
console.log('ready')
