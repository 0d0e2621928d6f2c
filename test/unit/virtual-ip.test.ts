import { after, before, describe, it } from 'node:test'
import { createHash } from 'node:crypto'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createVirtualIpTable } from '../../src/index.js'
import { peerIds } from '../fixtures/gateway.js'

function octets (ip: string): number[] {
  return ip.split('.').map(Number)
}

describe('virtual-IP table', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-unit-vip-'))
  let ids: string[]
  before(async () => { ids = await peerIds(64) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('derives the same address from the same peer ID in separate tables, inside 10.64.0.0/16 and never .0, .255 or 10.64.0.1', () => {
    const a = createVirtualIpTable()
    for (const id of ids) {
      // derived as documented: 10.64.0.0 + (first 32 bits of sha256(peer ID) mod 65536), unless that host is skipped
      const h = createHash('sha256').update(id).digest().readUInt32BE(0) % 65536
      if ((h & 0xff) !== 0 && (h & 0xff) !== 255 && h !== 1) assert.equal(createVirtualIpTable().assign(id), `10.64.${h >> 8}.${h & 0xff}`)
      assert.equal(createVirtualIpTable().assign(id), createVirtualIpTable().preferred(id))
      const ip = a.assign(id)
      assert.equal(a.assign(id), ip, 'assign is idempotent')
      const [o1, o2, , o4] = octets(ip)
      assert.equal(o1, 10)
      assert.equal(o2, 64)
      assert.ok(o4 !== 0 && o4 !== 255, ip)
      assert.notEqual(ip, '10.64.0.1')
      assert.equal(a.byIp(ip)?.peerId, id)
      assert.equal(a.byPeer(id)?.ip, ip)
    }
    // 64 random peers: distinct addresses
    assert.equal(new Set(ids.map(id => a.byPeer(id)!.ip)).size, ids.length)
  })

  it('contains() is the /16 and nothing else', () => {
    const t = createVirtualIpTable()
    for (const ip of ['10.64.0.0', '10.64.255.255', '10.64.1.5']) assert.ok(t.contains(ip), ip)
    for (const ip of ['10.65.0.1', '10.63.255.255', '11.64.0.1', '10.64.1', '10.64.1.256', 'x', '', '::1']) assert.ok(!t.contains(ip), ip)
    assert.equal(t.byIp('10.64.1.999'), undefined)
  })

  it('resolves collisions by linear probing, skipping .255, .0 and reserved addresses', () => {
    // every peer hashes to host 0x01fe = 10.64.1.254
    const t = createVirtualIpTable({ hash: () => 0x01fe })
    assert.equal(t.assign(ids[0]), '10.64.1.254')
    assert.equal(t.assign(ids[1]), '10.64.2.1', 'skips 10.64.1.255 and 10.64.2.0')
    assert.equal(t.assign(ids[2]), '10.64.2.2')
    // the reserved gateway address and the last host wrap around
    const r = createVirtualIpTable({ hash: () => 1 })
    assert.equal(r.assign(ids[0]), '10.64.0.2')
    const w = createVirtualIpTable({ hash: () => 0xfffe })
    assert.equal(w.assign(ids[0]), '10.64.255.254')
    assert.equal(w.assign(ids[1]), '10.64.0.2', 'wraps past .255, 10.64.0.0 and the reserved 10.64.0.1')
  })

  it('persists assignments atomically (0600) so collided peers keep their address across restarts, whatever the order', () => {
    const file = join(dir, 'collide', 'vip-table.json')
    const first = createVirtualIpTable({ file, hash: () => 0x0505 })
    const ipB = first.assign(ids[1], 'b.grewal')
    const ipA = first.assign(ids[0], 'a.grewal')
    assert.equal(ipB, '10.64.5.5')
    assert.equal(ipA, '10.64.5.6')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(readdirSync(join(dir, 'collide')), ['vip-table.json'], 'no temp files left')
    const saved = JSON.parse(readFileSync(file, 'utf8'))
    assert.equal(saved.version, 1)
    assert.equal(saved.network, '10.64.0.0/16')
    assert.deepEqual(saved.entries.map((e: any) => [e.ip, e.peer_id]), [['10.64.5.5', ids[1]], ['10.64.5.6', ids[0]]])

    // a restart asks in the other order: the table, not the order, decides
    const again = createVirtualIpTable({ file, hash: () => 0x0505 })
    assert.equal(again.assign(ids[0]), ipA)
    assert.equal(again.assign(ids[1]), ipB)
    assert.deepEqual(again.byIp(ipA)?.names, ['a.grewal'])
    assert.equal(again.assign(ids[2]), '10.64.5.7')
  })

  it('readOnly: loads the file and answers as assign() would, without writing', () => {
    const file = join(dir, 'ro.json')
    const t = createVirtualIpTable({ file, hash: () => 0x0909 })
    t.assign(ids[0])
    const before = readFileSync(file, 'utf8')
    const ro = createVirtualIpTable({ file, hash: () => 0x0909, readOnly: true })
    assert.equal(ro.assign(ids[1], 'x.grewal'), '10.64.9.10', 'sees the collision recorded in the file')
    assert.equal(readFileSync(file, 'utf8'), before)
    assert.equal(createVirtualIpTable({ file: join(dir, 'never.json'), readOnly: true }).assign(ids[2]), createVirtualIpTable().preferred(ids[2]))
    assert.equal(existsSync(join(dir, 'never.json')), false)
  })

  it('remembers names for PTR, newest first, and moves a name to the peer that has it now', () => {
    const file = join(dir, 'names.json')
    const t = createVirtualIpTable({ file, maxNamesPerPeer: 2 })
    t.assign(ids[0], 'home.grewal')
    t.assign(ids[0], 'nas.grewal')
    t.assign(ids[0], 'box.grewal')
    assert.deepEqual(t.byPeer(ids[0])?.names, ['box.grewal', 'nas.grewal'])
    t.assign(ids[1], 'nas.grewal')
    assert.deepEqual(t.byPeer(ids[0])?.names, ['box.grewal'])
    assert.deepEqual(t.byPeer(ids[1])?.names, ['nas.grewal'])
    assert.deepEqual(createVirtualIpTable({ file }).byPeer(ids[1])?.names, ['nas.grewal'])
    // returned rows are copies
    t.byPeer(ids[1])!.names.push('x')
    assert.deepEqual(t.byPeer(ids[1])?.names, ['nas.grewal'])
  })

  it('ignores a corrupt file and bad rows, keeping the good ones', () => {
    const corrupt = join(dir, 'corrupt.json')
    writeFileSync(corrupt, '{not json')
    const t = createVirtualIpTable({ file: corrupt })
    assert.equal(t.entries().length, 0)
    assert.equal(t.assign(ids[0]), t.preferred(ids[0]))

    const mixed = join(dir, 'mixed.json')
    writeFileSync(mixed, JSON.stringify({
      version: 1,
      network: '10.64.0.0/16',
      entries: [
        { ip: '10.64.9.9', peer_id: ids[0], names: ['ok.grewal', 7] },
        { ip: '10.64.9.9', peer_id: ids[1] }, // duplicate address
        { ip: '10.64.9.10', peer_id: ids[0] }, // duplicate peer
        { ip: '10.65.1.1', peer_id: ids[2] }, // outside the network
        { ip: '10.64.3.0', peer_id: ids[3] }, // .0
        { ip: '10.64.0.1', peer_id: ids[4] }, // reserved
        { ip: '10.64.3.3', peer_id: 'not-a-peer-id' },
        { ip: '10.64.3.4', peer_id: ids[5].toLowerCase() },
        null
      ]
    }))
    const m = createVirtualIpTable({ file: mixed })
    assert.deepEqual(m.entries(), [{ ip: '10.64.9.9', peerId: ids[0], names: ['ok.grewal'] }])
  })

  it('rejects what is not a peer ID, and reports exhaustion with a typed error', () => {
    const t = createVirtualIpTable()
    assert.throws(() => t.assign('home.grewal'), { name: 'InvalidPeerIdError' })
    // reserve every usable address but two
    const reserved: string[] = []
    for (let h = 0; h < 65536; h++) {
      if (h === 0x0102 || h === 0x0103) continue
      reserved.push(`10.64.${h >> 8}.${h & 0xff}`)
    }
    const small = createVirtualIpTable({ reserved })
    const got = [small.assign(ids[0]), small.assign(ids[1])].sort()
    assert.deepEqual(got, ['10.64.1.2', '10.64.1.3'])
    assert.throws(() => small.assign(ids[2]), { name: 'VirtualIpExhaustedError' })
  })
})
