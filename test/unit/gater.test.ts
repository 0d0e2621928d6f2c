import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createAuthorizedKeys, createConnectionGater, writeFileAtomic } from '../../src/index.js'
import type { PeerId } from '@libp2p/interface'

async function newPeer (): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

describe('connection gater', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-unit-gater-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('denies everyone in both directions with an empty authorized_keys', async () => {
    const file = join(dir, 'empty_keys')
    writeFileAtomic(file, '# nobody yet\n', { mode: 0o600 })
    const ak = createAuthorizedKeys({ file, watch: false })
    const denials: string[] = []
    const gater = createConnectionGater({ policy: { isAllowed: p => ak.isAuthorized(p) }, onDeny: (_p, where) => denials.push(where) })
    const peer = await newPeer()
    const relay = await newPeer()
    assert.equal(await gater.denyInboundEncryptedConnection!(peer, {} as any), true)
    assert.equal(await gater.denyOutboundEncryptedConnection!(peer, {} as any), true)
    assert.equal(await gater.denyDialPeer!(peer), true)
    assert.equal(await gater.denyInboundRelayedConnection!(relay, peer), true)
    assert.deepEqual(denials, ['inbound connection', 'outbound connection', 'dial', 'inbound relayed connection'])
    // a non-relay gater does not gate reservations (no relay server runs)
    assert.equal(gater.denyInboundRelayReservation, undefined)
    ak.close()
  })

  it('allows listed peers both ways and keeps denying the rest', async () => {
    const allowed = await newPeer()
    const stranger = await newPeer()
    const file = join(dir, 'one_key')
    writeFileAtomic(file, `${allowed.toString()}\n`, { mode: 0o600 })
    const ak = createAuthorizedKeys({ file, watch: false })
    const gater = createConnectionGater({ policy: { isAllowed: p => ak.isAuthorized(p) } })
    assert.equal(await gater.denyInboundEncryptedConnection!(allowed, {} as any), false)
    assert.equal(await gater.denyOutboundEncryptedConnection!(allowed, {} as any), false)
    assert.equal(await gater.denyDialPeer!(allowed), false)
    assert.equal(await gater.denyInboundEncryptedConnection!(stranger, {} as any), true)
    assert.equal(await gater.denyOutboundEncryptedConnection!(stranger, {} as any), true)
    ak.close()
  })

  it('alwaysAllow lets the node reach its own relays', async () => {
    const relay = await newPeer()
    const other = await newPeer()
    const gater = createConnectionGater({ policy: { isAllowed: () => false }, alwaysAllow: () => [relay.toString()] })
    assert.equal(await gater.denyOutboundEncryptedConnection!(relay, {} as any), false)
    assert.equal(await gater.denyDialPeer!(relay), false)
    assert.equal(await gater.denyOutboundEncryptedConnection!(other, {} as any), true)
  })

  it('relay mode gates reservations and both ends of a circuit on membership', async () => {
    const member = await newPeer()
    const member2 = await newPeer()
    const outsider = await newPeer()
    const members = new Set([member.toString(), member2.toString()])
    const gater = createConnectionGater({ policy: { isAllowed: p => members.has(p) }, relay: true })
    assert.equal(await gater.denyInboundRelayReservation!(member), false)
    assert.equal(await gater.denyInboundRelayReservation!(outsider), true)
    assert.equal(await gater.denyOutboundRelayedConnection!(member, member2), false)
    assert.equal(await gater.denyOutboundRelayedConnection!(outsider, member), true)
    assert.equal(await gater.denyOutboundRelayedConnection!(member, outsider), true)
    assert.equal(await gater.denyInboundEncryptedConnection!(outsider, {} as any), true)
  })

  it('enabled: false allows everyone', async () => {
    const peer = await newPeer()
    const gater = createConnectionGater({ policy: { isAllowed: () => false }, enabled: false, relay: true })
    assert.equal(await gater.denyInboundEncryptedConnection!(peer, {} as any), false)
    assert.equal(await gater.denyOutboundEncryptedConnection!(peer, {} as any), false)
    assert.equal(await gater.denyInboundRelayReservation!(peer), false)
  })
})
