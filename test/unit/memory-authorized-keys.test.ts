import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createMemoryAuthorizedKeys } from '../../src/auth/memory-authorized-keys.js'
import { createAllowLists } from '../../src/auth/allow-lists.js'
import { configFromObject } from '../../src/node/node-config.js'

const A = '12D3KooWKXeTpyKNhG8jqNSJdPkajruf51En4vbbb6z6W1GHJXr5'
const B = '12D3KooWHY7CTS8gSU2AGYoEJgSp5Vp2LWXvuHCS8ZxPTMSaf2qV'

describe('in-memory allow-lists', () => {
  it('grants the listed peers, honours expires=, keeps comments; set() replaces and reports the revoked', () => {
    const list = createMemoryAuthorizedKeys([`${A}  # laptop`, `${B} expires=2000-01-01T00:00:00Z`])
    assert.equal(list.isAuthorized(A), true)
    assert.equal(list.isAuthorized(B), false, 'expired')
    assert.equal(list.comment(A), 'laptop')
    let revoked: string[] | undefined
    list.on('change', e => { revoked = e.revoked })
    list.set([B])
    assert.deepEqual(revoked, [A])
    assert.equal(list.isAuthorized(A), false)
  })

  it('a bad line is the caller\'s error: it throws and the old lines stay', () => {
    assert.throws(() => createMemoryAuthorizedKeys(['not-a-peer-id']), { name: 'InvalidPeerIdError', message: /line 1: invalid peer ID "not-a-peer-id"/ })
    const list = createMemoryAuthorizedKeys([A])
    assert.throws(() => { list.set([A, `${B} colour=blue`]) }, { name: 'InvalidPeerIdError', message: /unknown attribute "colour"/ })
    assert.equal(list.isAuthorized(A), true)
  })

  it('allow-lists take the lists themselves: global and per service', () => {
    const lists = createAllowLists({ globalFile: 'unused', global: createMemoryAuthorizedKeys([A]), serviceLists: { web: createMemoryAuthorizedKeys([B], 'web (in memory)') } })
    assert.equal(lists.isAuthorized(A, 'ssh'), true)
    assert.equal(lists.isAuthorized(A, 'web'), false)
    assert.equal(lists.isAuthorized(B, 'web'), true)
    assert.equal(lists.isAllowedAnywhere(B), true)
    assert.match(lists.summary(), /^global authorized_keys \(in memory\) \(1 peer\); web: web \(in memory\) \(1 peer\)$/)
    lists.close()
  })
})

describe('config objects (configFromObject)', () => {
  it('fills the defaults, resolves relative paths against dir, and has no file', () => {
    const c = configFromObject({ role: 'home' }, { dir: '/srv/peerup' })
    assert.equal(c.file, '')
    assert.equal(c.config.security.enable_gating, true)
    assert.equal(c.path(c.config.identity.key_file), '/srv/peerup/identity.key')
  })

  it('a bad key names the key path', () => {
    assert.throws(() => configFromObject({ role: 'home', paths: { prefr: 'relay' } } as any), { name: 'ConfigError', message: /^config object: paths\.prefr: / })
    assert.throws(() => configFromObject({ role: 'nobody' } as any), { name: 'ConfigError', message: /^config object: role: / })
  })
})
