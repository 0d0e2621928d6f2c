import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { configSchema, loadConfig, loadYamlFile, namesFileSchema } from '../../src/index.js'
import { nearest } from '../../src/config/yaml-file.js'

const FILE = '/etc/peerup/config.yaml'

/** Load `text` as a config and return the ConfigError it throws. */
function configError (text: string, schema: any = configSchema): { message: string, line?: number, keyPath?: string, file?: string } {
  try {
    loadYamlFile(FILE, schema, text)
  } catch (err: any) {
    assert.equal(err.name, 'ConfigError', err.message)
    assert.equal(err.message.includes('\n'), false, 'one line')
    return err
  }
  assert.fail('expected a ConfigError')
}

describe('yaml-file errors', () => {
  it('a valid config loads with defaults', () => {
    const c = loadYamlFile(FILE, configSchema, 'role: home\nservices:\n  ssh:\n    local_address: 127.0.0.1:22\n')
    assert.equal(c.role, 'home')
    assert.equal(c.services.ssh.enabled, true)
    assert.equal(c.security.enable_gating, true)
    assert.equal(c.security.authorized_keys_file, 'authorized_keys')
    assert.equal(c.identity.key_file, 'identity.key')
  })

  it('broken YAML names file and line', () => {
    const e = configError('# comment\nrole: home\nnetwork:\n  name: grewal\n host: box\nrelays: []\n')
    assert.equal(e.line, 5)
    assert.match(e.message, /^\/etc\/peerup\/config\.yaml:5: invalid YAML: /)
  })

  it('a duplicate key is an error on its line', () => {
    const e = configError('role: home\nnames_file: a.yaml\nnames_file: b.yaml\n')
    assert.equal(e.line, 3)
    assert.match(e.message, /^\/etc\/peerup\/config\.yaml:3: invalid YAML: .*unique/)
  })

  it('a top-level typo names line, key and the nearest valid key', () => {
    const e = configError('# peerup\nrole: home\nsecurty:\n  enable_gating: true\n')
    assert.equal(e.line, 3)
    assert.equal(e.keyPath, 'securty')
    assert.equal(e.message, `${FILE}:3: securty: unknown key "securty" (did you mean "security"?)`)
  })

  it('a nested typo that also leaves a required key missing reports the typo', () => {
    const e = configError('role: home\nservices:\n  web:\n    local_adress: 127.0.0.1:8080\n')
    assert.equal(e.line, 4)
    assert.equal(e.keyPath, 'services.web.local_adress')
    assert.equal(e.message, `${FILE}:4: services.web.local_adress: unknown key "local_adress" (did you mean "local_address"?)`)
  })

  it('a typo deeper in a section', () => {
    const e = configError('role: relay\nrelay:\n  limits:\n    data_byts: 100\n')
    assert.equal(e.line, 4)
    assert.match(e.message, /relay\.limits\.data_byts: unknown key "data_byts" \(did you mean "data_bytes"\?\)/)
  })

  it('an unknown key far from any valid key gets no suggestion', () => {
    const e = configError('role: home\nzzzzzzzzzzzz: 1\n')
    assert.equal(e.line, 2)
    assert.equal(e.message, `${FILE}:2: zzzzzzzzzzzz: unknown key "zzzzzzzzzzzz"`)
  })

  it('a bad value names its line and key path', () => {
    const e = configError('role: home\nservices:\n  web:\n    local_address: localhost\n')
    assert.equal(e.line, 4)
    assert.match(e.message, /^\/etc\/peerup\/config\.yaml:4: services\.web\.local_address: host:port/)
    const r = configError('version: 1\nrole: gateway\n')
    assert.equal(r.line, 2)
    assert.match(r.message, /:2: role: /)
  })

  it('a missing required key is named', () => {
    const e = configError('role: home\nservices:\n  web:\n    enabled: true\n')
    assert.equal(e.keyPath, 'services.web.local_address')
    assert.match(e.message, /missing required key "local_address"/)
  })

  it('a service name that is not a DNS label is rejected', () => {
    const e = configError('role: home\nservices:\n  Web/1:\n    local_address: 127.0.0.1:80\n')
    assert.equal(e.line, 3)
    assert.match(e.message, /services\.Web\/1/)
  })

  it('names file typos are reported too', () => {
    const e = configError('names:\n  home:\n    peer_idd: x\n', namesFileSchema)
    assert.match(e.message, /^\/etc\/peerup\/config\.yaml:\d+: names\.home/)
  })

  it('nearest() suggests only close words', () => {
    assert.equal(nearest('securty', ['security', 'services', 'relays']), 'security')
    assert.equal(nearest('SERVICES', ['security', 'services']), 'services')
    assert.equal(nearest('local_adress', ['local_address', 'enabled']), 'local_address')
    assert.equal(nearest('xyz', ['security']), undefined)
  })

  describe('loadConfig', () => {
    const dir = mkdtempSync(join(tmpdir(), 'peerup-unit-yaml-'))
    after(() => { rmSync(dir, { recursive: true, force: true }) })

    it('names the real file and resolves relative paths against its directory', () => {
      const file = join(dir, 'home.yaml')
      writeFileSync(file, 'role: home\nidentity:\n  key_file: keys/id.key\n')
      const cfg = loadConfig(file)
      assert.equal(cfg.file, file)
      assert.equal(cfg.path(cfg.config.identity.key_file), join(dir, 'keys/id.key'))
      assert.equal(cfg.path('/abs/x'), '/abs/x')
      writeFileSync(file, 'role: home\nnetwrk: {}\n')
      assert.throws(() => loadConfig(file), (err: any) => err.name === 'ConfigError' && err.message === `${file}:2: netwrk: unknown key "netwrk" (did you mean "network"?)`)
    })

    it('a missing file is a ConfigError naming it', () => {
      const file = join(dir, 'nope.yaml')
      assert.throws(() => loadConfig(file), (err: any) => err.name === 'ConfigError' && err.message.startsWith(`${file}: cannot read`))
    })
  })
})

describe('network.announce validation', () => {
  it('accepts TCP, WebSocket and DNS addresses', () => {
    const c = loadYamlFile(FILE, configSchema, 'role: home\nnetwork:\n  announce:\n    - /ip4/198.51.100.2/tcp/4001\n    - /dns4/home.example.net/tcp/4001\n    - /ip6/2001:db8::1/tcp/4001/ws\n')
    assert.deepEqual(c.network.announce, ['/ip4/198.51.100.2/tcp/4001', '/dns4/home.example.net/tcp/4001', '/ip6/2001:db8::1/tcp/4001/ws'])
  })
  it('rejects a malformed multiaddr, a relay circuit and a non-TCP address with file:line and the key', () => {
    const bad = configError('role: home\nnetwork:\n  announce:\n    - /ip4/198.51.100.2/tcp/4001\n    - /ip4/300.1.1.1/tcp/4001\n')
    assert.equal(bad.line, 5)
    assert.match(bad.message, /^\/etc\/peerup\/config\.yaml:5: network\.announce\.1: "\/ip4\/300\.1\.1\.1\/tcp\/4001" is not a valid multiaddr/)
    assert.match(configError('role: home\nnetwork:\n  announce: [/ip4/203.0.113.7/tcp/7777/p2p-circuit]\n').message, /:3: network\.announce\.0: an address peers can dial directly/)
    assert.match(configError('role: home\nnetwork:\n  announce: [/ip4/198.51.100.2/udp/4001]\n').message, /:3: network\.announce\.0: a TCP or WebSocket address/)
  })
  it('rejects a malformed relay multiaddr too', () => {
    assert.match(configError('role: home\nrelays:\n  - /ip4/203.0.113.7/tcp/77777\n').message, /:3: relays\.0: .*not a valid multiaddr/)
  })
})

describe('relay address validation', () => {
  const id = '12D3KooWQmKxUjbHVTnUVRLDFm5sKADcB4SHgSwUtsMNt2zdaDKC'
  it('accepts relay addresses that end in /p2p/<relay-peer-id>', () => {
    const c = loadYamlFile(FILE, configSchema, `role: home\nrelays:\n  - /ip4/203.0.113.7/tcp/7777/p2p/${id}\n  - /dns4/relay.example.net/tcp/7778/ws/p2p/${id}\nnetworks:\n  other:\n    relays: [/ip6/2001:db8::7/tcp/7777/p2p/${id}]\n`)
    assert.equal(c.relays.length, 2)
  })
  it('a relay address without /p2p/<id> (or a circuit) is an error naming file, line and key, with the fix', () => {
    const e = configError('# home\nrole: home\nrelays:\n  - /ip4/203.0.113.7/tcp/7777\n')
    assert.equal(e.line, 4)
    assert.equal(e.keyPath, 'relays.0')
    assert.match(e.message, /^\/etc\/peerup\/config\.yaml:4: relays\.0: "\/ip4\/203\.0\.113\.7\/tcp\/7777" has no \/p2p\/<relay-peer-id> at its end/)
    assert.match(e.message, /peerup relay serve/, 'says where the full address comes from')
    const n = configError('role: client\nnetworks:\n  other:\n    relays:\n      - /dns4/relay.example.net/tcp/7777\n')
    assert.equal(n.line, 5)
    assert.equal(n.keyPath, 'networks.other.relays.0')
    assert.match(configError(`role: home\nrelays: [/ip4/203.0.113.7/tcp/7777/p2p/${id}/p2p-circuit]\n`).message, /:2: relays\.0: .*is a relay circuit/)
  })
})
