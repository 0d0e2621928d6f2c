import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { configSchema, createConnectionGater, createNetwork, loadYamlFile } from '../../src/index.js'

const FILE = '/etc/peerup/config.yaml'

/** A node that is built but never started: nothing touches the network. */
async function build (upnp?: boolean): Promise<Record<string, any>> {
  const node = await createNetwork({
    privateKey: await generateKeyPair('Ed25519'),
    listen: [],
    dht: false,
    connectionGater: createConnectionGater({ policy: { isAllowed: () => true } }),
    ...(upnp != null ? { upnp } : {})
  })
  return node.services
}

describe('network.upnp', () => {
  it('is off by default in the config, and a non-boolean names file, line and key', () => {
    assert.equal(loadYamlFile(FILE, configSchema, 'role: home\n').network.upnp, false)
    assert.equal(loadYamlFile(FILE, configSchema, 'role: home\nnetwork:\n  announce: []\n').network.upnp, false)
    assert.equal(loadYamlFile(FILE, configSchema, 'role: home\nnetwork:\n  upnp: true\n').network.upnp, true)
    assert.throws(() => loadYamlFile(FILE, configSchema, 'role: home\nnetwork:\n  dht: true\n  upnp: "yes"\n'),
      (err: any) => err.name === 'ConfigError' && /^\/etc\/peerup\/config\.yaml:4: network\.upnp: /.test(err.message))
  })

  it('adds the @libp2p/upnp-nat service only when turned on', async () => {
    const off = await build()
    assert.equal(off.upnpNat, undefined)
    assert.equal((await build(false)).upnpNat, undefined)
    const on = await build(true)
    assert.equal(on.upnpNat?.[Symbol.toStringTag], '@libp2p/upnp-nat')
  })
})
