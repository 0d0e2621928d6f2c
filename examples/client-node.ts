/**
 * A client in a few lines: resolve a name, ping it, and forward a local port
 * to a remote service (like `peerup proxy home ssh 2222`).
 * Run: node dist/examples/client-node.js path/to/config.yaml home ssh 2222
 */
import '../src/polyfill.js'
import { createPeerupNode, describePath, loadConfig } from '../src/index.js'

const [configFile, target = 'home', service = 'ssh', port = '2222'] = process.argv.slice(2)
const node = await createPeerupNode({ config: loadConfig(configFile), listen: [], serve: false })
await node.start()
const { rtt, path } = await node.ping(target)
console.error(`${target}: ${rtt.toFixed(1)} ms, ${describePath(path)}`)
const proxy = await node.proxy(target, service, Number(port))
console.error(`127.0.0.1:${proxy.port} -> ${target}/${service}`)
