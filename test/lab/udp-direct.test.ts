/**
 * Direct NAT-to-NAT paths over UDP (WebRTC private-to-private, signalled
 * over the relay, STUN from the relay itself) in the netns NAT lab, with
 * real CLI processes: both NATs endpoint-independent → direct UDP within
 * 5 s and a byte-exact 64 MiB tunnel that bypasses the relay; a symmetric
 * NAT or blocked UDP → relayed, and tunnels work; the direct path dropped
 * mid-session → new tunnels go through the relay within 5 s; a relayed
 * tunnel survives the upgrade; a stalled receiver gets a reset, not a
 * silently short transfer.
 */
import { after, afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Harness } from '../fixtures/mesh.js'
import { createLab, type Lab } from '../fixtures/netns.js'
import { startUdpLab, type UdpLab, type UdpLabOptions } from '../fixtures/udp-lab.js'

const MiB = 1024 * 1024

interface PingJson { class: string, classes: string[], directAfterMs: number | null, udp: { available: boolean, reason: string | null, stun: string[] } }

describe('direct UDP paths through NAT (netns lab)', { timeout: 600_000 }, () => {
  let lab: Lab | undefined
  let h: Harness | undefined
  afterEach(async () => {
    await h?.cleanup()
    await lab?.cleanup()
    h = undefined
    lab = undefined
  })
  after(async () => { await h?.cleanup(); await lab?.cleanup() })

  async function setup (options: UdpLabOptions = {}): Promise<UdpLab> {
    lab = await createLab()
    h = new Harness()
    return await startUdpLab(lab, h, options)
  }

  async function ping (m: UdpLab, args: string[]): Promise<PingJson> {
    const r = await h!.run(['--config', m.client.config, 'ping', 'home.grewal', '--json', ...args], { netns: m.t.client, timeoutMs: 60_000 })
    assert.equal(r.code, 0, `ping failed: ${r.stderr}`)
    return JSON.parse(r.stdout.toString().trim().split('\n').pop()!) as PingJson
  }

  it('both behind endpoint-independent NATs: direct UDP within 5 s; a 64 MiB tunnel over it is byte-exact and bypasses the relay', async () => {
    const m = await setup()
    const p = await ping(m, ['-c', '60', '--interval', '100', '--until-direct'])
    assert.equal(p.udp.available, true, 'the WebRTC addon loads')
    assert.deepEqual(p.udp.stun, ['stun:203.0.113.10:3478'], 'STUN from the relay, nobody else')
    assert.equal(p.classes[0], 'relayed', 'first contact goes through the relay')
    assert.equal(p.class, 'direct-udp', `no direct UDP path: ${JSON.stringify(p)}`)
    assert.ok(p.directAfterMs != null && p.directAfterMs <= 5000, `direct after ${p.directAfterMs} ms`)
    console.log(`direct UDP ${p.directAfterMs} ms after the first relayed ping (${p.classes.length} pings)`)

    const proxy = await m.proxy('echo', 7000)
    await proxy.waitFor(/path to home\.grewal: direct-udp/, 15_000)
    const before = await m.relayBytes()
    const x = await m.transfer(7000, 64 * MiB, 'echo')
    const relayed = await m.relayBytes() - before
    assert.equal(x.error, undefined)
    assert.equal(x.received, 64 * MiB)
    assert.equal(x.receivedSha, x.sentSha, 'echoed bytes differ')
    // 128 MiB crossed the tunnel; the relay's uplink carried only control traffic
    assert.ok(relayed < 2 * MiB, `relay moved ${relayed} bytes during a direct transfer`)
    console.log(`64 MiB each way over direct UDP in ${x.ms} ms; relay uplink moved ${relayed} bytes meanwhile`)
  })

  it('one peer behind a symmetric NAT: stays relayed, and tunnels work', async () => {
    const m = await setup({ home: { nat: 'symmetric' } })
    const p = await ping(m, ['-c', '20', '--interval', '250'])
    assert.ok(p.classes.every(c => c === 'relayed'), `expected relayed only: ${JSON.stringify(p)}`)
    assert.ok(p.udp.reason != null, 'ping says why there is no direct UDP path')
    await m.proxy('sink', 7001)
    const x = await m.transfer(7001, 8 * MiB, 'sink')
    assert.equal(x.error, undefined)
    assert.deepEqual(JSON.parse(x.answer!), { n: 8 * MiB, sha: x.sentSha })
  })

  it('UDP blocked on one side: relayed, and tunnels work', async () => {
    const m = await setup({ client: { blockUdp: true } })
    const p = await ping(m, ['-c', '20', '--interval', '250'])
    assert.ok(p.classes.every(c => c === 'relayed'), `expected relayed only: ${JSON.stringify(p)}`)
    await m.proxy('sink', 7002)
    const x = await m.transfer(7002, 8 * MiB, 'sink')
    assert.equal(x.error, undefined)
    assert.deepEqual(JSON.parse(x.answer!), { n: 8 * MiB, sha: x.sentSha })
  })

  it('a tunnel running over the relay keeps running while the direct path comes up (UDP let through mid-tunnel); new tunnels then go direct', async () => {
    const m = await setup()
    // UDP through the home router is dropped at first: the first upgrade attempt fails
    await m.t.lab.nft(m.t.homeRouter, 'table ip udpblock {\n  chain forward {\n    type filter hook forward priority -10; policy accept;\n    meta l4proto udp drop\n  }\n}\n')
    const proxy = await m.proxy('sink', 7004)
    const before = await m.relayBytes()
    // 24 MiB paced at 1 MiB/s: opened over the relay, still running when the direct path appears
    const slow = m.transfer(7004, 24 * MiB, 'sink', 90_000, 1000)
    await new Promise(resolve => setTimeout(resolve, 1500))
    await m.t.lab.nft(m.t.homeRouter, 'delete table ip udpblock\n')
    await proxy.waitFor(/path to home\.grewal: direct-udp/, 40_000)
    const x = await slow
    assert.equal(x.error, undefined, `the relayed tunnel broke: ${x.error} ${proxy.stderr()}`)
    assert.deepEqual(JSON.parse(x.answer!), { n: 24 * MiB, sha: x.sentSha })
    const viaRelay = await m.relayBytes() - before
    assert.ok(viaRelay > 24 * MiB, `the running tunnel stayed on the relay (${viaRelay} bytes through it)`)
    console.log(`relayed tunnel ran ${x.ms} ms across the upgrade; ${proxy.stderr().match(/path to home\.grewal: direct-udp.*/)?.[0] ?? ''}`)
    // the next tunnel takes the direct path
    const b2 = await m.relayBytes()
    const y = await m.transfer(7004, 16 * MiB, 'sink')
    assert.deepEqual(JSON.parse(y.answer!), { n: 16 * MiB, sha: y.sentSha })
    const viaRelay2 = await m.relayBytes() - b2
    assert.ok(viaRelay2 < 2 * MiB, `the new tunnel went direct (relay moved ${viaRelay2} bytes): ${proxy.stderr().slice(-3000)}`)
  })

  it('direct path dropped mid-session: new tunnels go through the relay within 5 s', async () => {
    const m = await setup()
    const proxy = await m.proxy('sink', 7003)
    await proxy.waitFor(/path to home\.grewal: direct-udp/, 20_000)
    const direct = await m.transfer(7003, 4 * MiB, 'sink')
    assert.deepEqual(JSON.parse(direct.answer!), { n: 4 * MiB, sha: direct.sentSha })

    // the home router starts dropping every UDP packet: the hole closes
    await m.t.lab.nft(m.t.homeRouter, 'insert rule ip lab forward meta l4proto udp drop\n')
    const before = await m.relayBytes()
    // the first new tunnel after the drop: connect, 64 KiB there, the sink's answer back
    const first = await m.transfer(7003, 64 * 1024, 'sink', 30_000)
    assert.equal(first.error, undefined, `tunnel after the drop failed: ${first.error} ${proxy.stderr()}`)
    assert.deepEqual(JSON.parse(first.answer!), { n: 64 * 1024, sha: first.sentSha })
    assert.ok(first.ms < 5000, `the first tunnel after the drop took ${first.ms} ms`)
    console.log(`first new tunnel after UDP was dropped completed in ${first.ms} ms (via the relay)`)
    const x = await m.transfer(7003, 4 * MiB, 'sink', 30_000)
    assert.deepEqual(JSON.parse(x.answer!), { n: 4 * MiB, sha: x.sentSha })
    assert.ok(await m.relayBytes() - before > 4 * MiB, 'the new tunnels went through the relay')
    assert.match(proxy.stderr(), /path to home\.grewal: relayed/)
  })

  it('a receiver that stops reading: the UDP tunnel is reset once its 64 MiB buffer is full, never cut short silently', async () => {
    const m = await setup()
    const proxy = await m.proxy('stall', 7005)
    await proxy.waitFor(/path to home\.grewal: direct-udp/, 20_000)
    // @libp2p/webrtc streams cannot pause the sender, so the home buffers what it cannot deliver
    const x = await m.transfer(7005, 256 * MiB, 'sink', 60_000)
    assert.match(x.error ?? '', /ECONNRESET|EPIPE/, `expected a reset: ${JSON.stringify({ ...x, sentSha: undefined })}`)
    assert.ok(x.sent >= 64 * MiB && x.sent < 256 * MiB, `sent ${x.sent} bytes before the reset`)
    // the home daemon survives it and the direct path serves the next tunnel
    await m.proxy('sink', 7006)
    const z = await m.transfer(7006, 4 * MiB, 'sink')
    assert.deepEqual(JSON.parse(z.answer!), { n: 4 * MiB, sha: z.sentSha })
  })
})
