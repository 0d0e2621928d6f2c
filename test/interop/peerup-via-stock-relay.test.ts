/**
 * A user may borrow any libp2p relay: a real peerup home daemon and a real
 * `peerup proxy` reach each other through a stock js-libp2p relay
 * (`circuitRelayServer` with its default limits lifted, published packages,
 * default options), and 64 MiB go each way at once.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { addAuthorizedKey, addNameToFile, addServiceToConfig, editYamlFile } from '../../src/index.js'
import { Harness, dial, echoServer, exchange, freePort, payload, sha256, type NodeDir, type Proc } from '../fixtures/mesh.js'
import { createStockNode } from '../fixtures/stock-libp2p.js'
import type { Libp2p } from '@libp2p/interface'

const MiB = 1024 * 1024
const DEADLINE = 60_000

describe('peerup client and home through a stock js-libp2p relay', { timeout: 180_000 }, () => {
  const h = new Harness()
  let relay: Libp2p
  let client: NodeDir
  let home: Proc

  before(async () => {
    relay = await createStockNode({ listen: ['/ip4/127.0.0.1/tcp/0'], relayServer: true })
    const relayAddr = relay.getMultiaddrs()[0].toString()
    const echo = await echoServer(h)
    const homeDir = await h.initNode('home', 'home')
    client = await h.initNode('laptop', 'client')
    addAuthorizedKey(join(homeDir.dir, 'authorized_keys'), client.peerId, { comment: 'laptop' })
    addAuthorizedKey(join(client.dir, 'authorized_keys'), homeDir.peerId, { comment: 'home' })
    for (const n of [homeDir, client]) editYamlFile(n.config, doc => { doc.set('relays', doc.createNode([relayAddr])) })
    addServiceToConfig(homeDir.config, 'echo', `127.0.0.1:${echo.port}`)
    // no direct address: the only way is the stock relay
    addNameToFile(join(client.dir, 'names.yaml'), 'home.grewal', homeDir.peerId, [])
    home = h.start(['--config', homeDir.config, 'daemon'])
    await home.waitFor(/^ready$/m)
    await home.waitFor(/reserved on relay/, 20_000)
  })
  after(async () => {
    await h.cleanup()
    await Promise.resolve(relay?.stop()).catch(() => {})
  })

  it('64 MiB each way at once through the stock relay, byte-exact', { timeout: 120_000 }, async () => {
    const port = await freePort()
    const proxy = h.start(['--config', client.config, 'proxy', 'home.grewal', 'echo', String(port), '--path', 'relay'])
    const m = await proxy.waitFor(/proxy \S+ -> home.grewal echo \((.*)\)/, 30_000)
    assert.match(m[1], /^relayed via /)
    const data = payload(64 * MiB)
    const t0 = Date.now()
    const { received, error } = await exchange(await dial(port), data, DEADLINE)
    console.log(`peerup via stock relay: 2 x 64 MiB in ${Date.now() - t0} ms, ${received.length} bytes back${error != null ? `, ${error.message}` : ''}`)
    assert.equal(error, undefined, `the tunnel stalled or failed after ${received.length} of ${data.length} bytes`)
    assert.equal(received.length, data.length)
    assert.equal(sha256(received), sha256(data))
    proxy.kill('SIGTERM')
    await proxy.exited
  })
})
