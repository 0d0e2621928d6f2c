/**
 * The NAT lab itself behaves like the internet it models: nodes behind NAT
 * reach the relay, nothing reaches them unsolicited, a port forward opens
 * one port, and teardown leaves no namespace behind.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createLab, natTopology, NAT_LAB, run, type Lab, type NatTopology } from '../fixtures/netns.js'

/** One-shot TCP server in `ns` that prints the peer address of its first connection. */
const SERVER = `const s=require('net').createServer(c=>{console.log(c.remoteAddress+':'+c.remotePort);c.end();s.close()});s.listen(+process.argv[1],'0.0.0.0',()=>console.log('listening'));setTimeout(()=>process.exit(3),8000).unref()`
const CONNECT = `const c=require('net').connect(+process.argv[2],process.argv[1]);c.on('connect',()=>{console.log('ok');process.exit(0)});c.on('error',e=>{console.log('err '+e.code);process.exit(1)});setTimeout(()=>{console.log('timeout');process.exit(2)},+process.argv[3]||3000)`

describe('netns NAT lab fixture', { timeout: 90_000 }, () => {
  let lab: Lab
  let t: NatTopology
  before(async () => {
    lab = await createLab()
    t = await natTopology(lab, { home: { forwards: [{ proto: 'tcp', port: 4001, to: NAT_LAB.home }] }, lanPeer: true })
  })
  after(async () => { await lab?.cleanup() })

  /** Start a server in `ns` on `port`, connect from `from` to `addr`; returns [connect output, server output]. */
  async function probe (ns: string, port: number, from: string, addr: string): Promise<[string, string]> {
    const server = run('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, String(port)], 10_000)
    await new Promise(resolve => setTimeout(resolve, 400))
    const c = await lab.exec(from, [process.execPath, '-e', CONNECT, addr, String(port), '2000'])
    // nothing connected: stop the server instead of waiting out its own timer
    if (c.stdout.trim() !== 'ok') {
      for (const pid of (await run('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean)) process.kill(Number(pid), 'SIGKILL')
    }
    const s = await server
    return [c.stdout.trim(), s.stdout.trim()]
  }

  it('home and client reach the relay, seen from their routers\' WAN addresses', async () => {
    const [c1, s1] = await probe(t.relay, 5001, t.client, NAT_LAB.relay)
    assert.equal(c1, 'ok')
    assert.match(s1, new RegExp(`${NAT_LAB.clientWan.replaceAll('.', '\\.')}:\\d+`))
    const [c2, s2] = await probe(t.relay, 5002, t.home, NAT_LAB.relay)
    assert.equal(c2, 'ok')
    assert.match(s2, new RegExp(`${NAT_LAB.homeWan.replaceAll('.', '\\.')}:\\d+`))
  })

  it('nothing reaches a node behind NAT unsolicited', async () => {
    const [c] = await probe(t.client, 5003, t.relay, NAT_LAB.clientWan)
    assert.notEqual(c, 'ok')
    const [c2] = await probe(t.home, 5004, t.relay, NAT_LAB.home)
    assert.notEqual(c2, 'ok')
  })

  it('a port forward opens exactly that port', async () => {
    const [c] = await probe(t.home, 4001, t.client, NAT_LAB.homeWan)
    assert.equal(c, 'ok')
    const [c2] = await probe(t.home, 4002, t.client, NAT_LAB.homeWan)
    assert.notEqual(c2, 'ok')
  })

  it('LAN peers reach each other directly', async () => {
    const [c, s] = await probe(t.lanPeer!, 5005, t.client, NAT_LAB.lanPeer)
    assert.equal(c, 'ok')
    assert.match(s, new RegExp(`${NAT_LAB.client.replaceAll('.', '\\.')}:\\d+`))
  })

  it('a cut link stops traffic and a restored one carries it again', async () => {
    await lab.setLink(t.inet, t.ifs.inetToRelay, false)
    const [c] = await probe(t.relay, 5006, t.client, NAT_LAB.relay)
    assert.notEqual(c, 'ok')
    await lab.setLink(t.inet, t.ifs.inetToRelay, true)
    const [c2] = await probe(t.relay, 5007, t.client, NAT_LAB.relay)
    assert.equal(c2, 'ok')
  })

  it('cleanup deletes every namespace of the lab', async () => {
    const other = await createLab()
    await natTopology(other)
    await other.cleanup()
    const list = await run('ip', ['netns', 'list'])
    assert.equal(list.stdout.split('\n').filter(l => l.startsWith(other.prefix + '-')).length, 0)
  })
})
