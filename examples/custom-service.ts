/**
 * A custom protocol served in-process instead of a TCP forward: the home
 * node answers `/peerup/uptime/1.0.0` itself, and only peers in its
 * authorized_keys can open it (the gater runs before any handler).
 * Run: node dist/examples/custom-service.js path/to/home-config.yaml
 */
import '../src/polyfill.js'
import { createPeerupNode, loadConfig, serviceProtocol } from '../src/index.js'

const node = await createPeerupNode({ config: loadConfig(process.argv[2]) })
await node.start()
await node.libp2p.handle(serviceProtocol('uptime'), (stream, connection) => {
  // defense in depth, as the service registry does for TCP services
  if (!node.services.isAuthorized(connection.remotePeer.toString(), 'uptime')) {
    stream.abort(new Error('not authorized'))
    return
  }
  stream.send(new TextEncoder().encode(`up ${process.uptime().toFixed(0)} s\n`))
  void stream.close()
}, { runOnLimitedConnection: true })
console.error(`serving ${serviceProtocol('uptime')} as ${node.peerId}; try: peerup nc <this-node> uptime`)
