/**
 * A home node in a few lines: expose local services to authorized peers and
 * keep a reservation on the relay: the node of `peerup daemon`, without the
 * control API and gateways that `createDaemon` (src/daemon) adds around it.
 * Run: node dist/examples/home-node.js path/to/config.yaml
 */
import '../src/polyfill.js'
import { createPeerupNode, loadConfig } from '../src/index.js'

const node = await createPeerupNode({ config: loadConfig(process.argv[2]) })
await node.start()
console.error(`home node ${node.peerId}`)
for (const s of node.services.list()) console.error(`  ${s.name} -> ${s.localAddress}`)
// add a service at runtime, without touching the config file
await node.services.add({ name: 'metrics', localAddress: '127.0.0.1:9100' })
process.on('SIGTERM', () => { void node.stop({ graceMs: 5000 }).then(() => process.exit(0)) })
