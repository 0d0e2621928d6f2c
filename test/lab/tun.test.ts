/**
 * TUN mode in network namespaces: three `peerup gateway --tun` nodes and a
 * relay in the NAT lab. b (client LAN) and c (the LAN peer next to it) reach
 * each other directly; a sits behind its own NAT and reaches b only through
 * the relay. Real ping, a 64 MiB TCP transfer, a UDP echo, a spoofed source,
 * a revocation and teardown.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { addAuthorizedKey, addNameToFile, editYamlFile, removeAuthorizedKey } from '../../src/index.js'
import { Harness, PEERUP, pollUntil, type NodeDir, type Proc } from '../fixtures/mesh.js'
import { createLab, natTopology, NAT_LAB, run, type Lab, type NatTopology } from '../fixtures/netns.js'

/** Receives one TCP connection on argv[1]:argv[2]; prints "<bytes> <sha256>". */
const TCP_SINK = `const h=require('crypto').createHash('sha256');let n=0;const s=require('net').createServer(c=>{c.on('data',d=>{h.update(d);n+=d.length});c.on('end',()=>{console.log(n+' '+h.digest('hex'));c.end();s.close()});c.on('error',e=>{console.log('error '+e.code);process.exit(1)})});s.listen(+process.argv[2],process.argv[1],()=>console.log('listening'));setTimeout(()=>{console.log('timeout '+n);process.exit(2)},+process.argv[3]).unref()`
/** Sends argv[3] random bytes to argv[1]:argv[2]; prints "<bytes> <sha256>". */
const TCP_SOURCE = `const h=require('crypto').createHash('sha256');const total=+process.argv[3];let sent=0;const c=require('net').connect(+process.argv[2],process.argv[1]);const t0=Date.now();function pump(){while(sent<total){const b=require('crypto').randomBytes(Math.min(1<<20,total-sent));h.update(b);sent+=b.length;if(!c.write(b)){c.once('drain',pump);return}}c.end()}c.on('connect',pump);c.on('close',()=>{console.log(sent+' '+h.digest('hex')+' '+(Date.now()-t0));process.exit(0)});c.on('error',e=>{console.log('error '+e.code);process.exit(1)});setTimeout(()=>{console.log('timeout '+sent);process.exit(2)},+process.argv[4]).unref()`
/** UDP echo server on argv[1]:argv[2]. */
const UDP_ECHO = `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(+process.argv[2],process.argv[1],()=>console.log('listening'));setTimeout(()=>process.exit(0),+process.argv[3]).unref()`
/** Sends datagrams of several sizes to argv[1]:argv[2]; prints "ok" when every echo matched. */
const UDP_CLIENT = `const s=require('dgram').createSocket('udp4');const crypto=require('crypto');const sizes=[1,100,1400,8000,16000];let i=0,tries=0;let cur;function next(){if(i===sizes.length){console.log('ok');process.exit(0)}cur=crypto.randomBytes(sizes[i]);tries++;if(tries>5){console.log('fail size '+sizes[i]);process.exit(1)}s.send(cur,+process.argv[2],process.argv[1])}s.on('message',m=>{if(Buffer.compare(m,cur)===0){i++;tries=0}next()});setInterval(next,1000);next()`

/** Parse ping's summary: [received, avg rtt ms]. */
function pingStats (out: string): { received: number, avg?: number } {
  const received = Number(/(\d+) received/.exec(out)?.[1] ?? 0)
  const avg = /= [\d.]+\/([\d.]+)\//.exec(out)?.[1]
  return { received, avg: avg != null ? Number(avg) : undefined }
}

describe('TUN mode (netns lab)', { timeout: 600_000 }, () => {
  let lab: Lab
  let t: NatTopology
  let h: Harness
  let relay: NodeDir
  const nodes: Record<'a' | 'b' | 'c', { dir: NodeDir, ns: string, proc?: Proc, vip?: string }> = {} as any

  async function startTun (name: 'a' | 'b' | 'c'): Promise<void> {
    const n = nodes[name]
    // b also runs the DNS gateway on its namespace's port 53 (its resolv.conf points there)
    const dns = name === 'b' ? ['--dns', '127.0.0.1:53'] : []
    n.proc = h.start(['--config', n.dir.config, 'gateway', '--tun', ...dns], { netns: n.ns, env: { DEBUG: process.env.TUN_DEBUG?.includes(name) === true ? 'peerup*' : '' } })
    await n.proc.waitFor(/^ready$/m, 30_000)
    n.vip = /^vip (\S+)$/m.exec(n.proc.stdout())![1]
    await n.proc.waitFor(/reserved on relay/, 30_000)
  }

  async function ping (from: 'a' | 'b' | 'c', to: string, count = 3): Promise<{ received: number, avg?: number, out: string }> {
    const r = await lab.exec(nodes[from].ns, ['ping', '-n', '-c', String(count), '-i', '0.2', '-W', '3', to], 30_000)
    return { ...pingStats(r.stdout), out: r.stdout + r.stderr }
  }

  /** The tail of every node's stderr, for assertion messages. */
  function diag (): string {
    return (['a', 'b', 'c'] as const).map(n => `--- ${n} stderr ---\n${nodes[n].proc?.stderr().slice(-2000) ?? ''}`).join('\n')
  }

  /** Ping and assert every reply came back; on failure the message holds the daemons' stderr and TUN state. */
  async function expectPing (from: 'a' | 'b' | 'c', to: 'a' | 'b' | 'c', count: number): Promise<{ received: number, avg?: number }> {
    const r = await ping(from, nodes[to].vip!, count)
    if (r.received !== count) {
      const state = JSON.stringify({ [from]: await dump(from), [to]: await dump(to) }, null, 1)
      if (process.env.TUN_DEBUG != null) for (const n of [from, to]) (await import('node:fs')).writeFileSync(`/tmp/tun-${n}.log`, nodes[n].proc!.stderr())
      assert.fail(`${from} → ${to}: ${r.received}/${count} replies\n${r.out}\n${diag()}\n${state}`)
    }
    return r
  }

  async function dump (name: 'a' | 'b' | 'c'): Promise<any> {
    const p = nodes[name].proc!
    const from = p.stderr().length
    p.kill('SIGUSR2')
    await pollUntil(async () => p.stderr().slice(from), s => /\n}\n/.test(s), 10_000, 100)
    const text = p.stderr().slice(from)
    const json = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1))
    return Object.entries(json).find(([k]) => k.startsWith('tun#'))?.[1]
  }

  before(async () => {
    lab = await createLab()
    t = await natTopology(lab, { lanPeer: true })
    h = new Harness()
    relay = await h.initNode('relay', 'relay', { listen: ['/ip4/0.0.0.0/tcp/7777'] })
    const relayAddr = `/ip4/${NAT_LAB.relay}/tcp/7777/p2p/${relay.peerId}`
    nodes.a = { dir: await h.initNode('a', 'home', { host: 'a', listen: ['/ip4/0.0.0.0/tcp/4001'] }), ns: t.home }
    nodes.b = { dir: await h.initNode('b', 'home', { host: 'b', listen: ['/ip4/0.0.0.0/tcp/4001'] }), ns: t.client }
    nodes.c = { dir: await h.initNode('c', 'home', { host: 'c', listen: ['/ip4/0.0.0.0/tcp/4001'] }), ns: t.lanPeer! }
    const keys = (n: NodeDir): string => join(n.dir, 'authorized_keys')
    for (const n of Object.values(nodes)) {
      addAuthorizedKey(keys(relay), n.dir.peerId)
      editYamlFile(n.dir.config, doc => { doc.set('relays', doc.createNode([relayAddr])) })
    }
    addAuthorizedKey(keys(nodes.a.dir), nodes.b.dir.peerId)
    addAuthorizedKey(keys(nodes.b.dir), nodes.a.dir.peerId)
    addAuthorizedKey(keys(nodes.b.dir), nodes.c.dir.peerId)
    addAuthorizedKey(keys(nodes.c.dir), nodes.b.dir.peerId)
    // b and c share a LAN. c knows b's address (its links to b start direct); b does
    // not: its link to c starts relayed and moves once the upgrade finds the LAN path
    addNameToFile(join(nodes.c.dir.dir, 'names.yaml'), 'b.grewal', nodes.b.dir.peerId, [`/ip4/${NAT_LAB.client}/tcp/4001`])
    const relayProc = h.start(['--config', relay.config, 'relay', 'serve'], { netns: t.relay })
    await relayProc.waitFor(/^ready$/m, 30_000)
    await Promise.all((['a', 'b', 'c'] as const).map(startTun))
  })

  after(async () => {
    await h?.cleanup()
    await lab?.cleanup()
  })

  it('gives each node its peer-ID-derived address, the mesh route and the MTU on peer0', async () => {
    for (const n of Object.values(nodes)) {
      assert.match(n.proc!.stdout(), new RegExp(`^tun peer0 ${n.vip!.replaceAll('.', '\\.')}/16 mtu \\d+$`, 'm'))
      const addr = await lab.must(n.ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'peer0'])
      assert.match(addr, new RegExp(`inet ${n.vip!.replaceAll('.', '\\.')}/16`))
      const routes = await lab.must(n.ns, ['ip', 'route', 'show', '10.64.0.0/16'])
      assert.match(routes, /10\.64\.0\.0\/16 dev peer0/)
    }
    const vips = new Set(Object.values(nodes).map(n => n.vip))
    assert.equal(vips.size, 3)
  })

  it('pings both ways over TUN, direct (b↔c) and relayed (a↔b)', async () => {
    // the first packet opens b's link to c: relayed, as b knows no address of c; the
    // background upgrade finds the LAN path and the link moves onto it
    await ping('b', nodes.c.vip!, 1)
    assert.match(nodes.b.proc!.stderr(), new RegExp(`tun: link to ${nodes.c.dir.peerId} open \\(relayed via`))
    const direct = new RegExp(`tun: link (to|from) (${nodes.b.dir.peerId}|${nodes.c.dir.peerId}) open \\(direct\\)`)
    await pollUntil(async () => nodes.b.proc!.stderr() + nodes.c.proc!.stderr(), s => direct.test(s), 15_000, 200)
    const bc = await expectPing('b', 'c', 5)
    const cb = await expectPing('c', 'b', 5)
    const ab = await expectPing('a', 'b', 5)
    const ba = await expectPing('b', 'a', 5)
    // the path each link took, as the daemons report it
    assert.match(nodes.b.proc!.stderr(), new RegExp(`tun: link (to|from) ${nodes.c.dir.peerId} open \\(direct\\)`))
    assert.match(nodes.a.proc!.stderr(), new RegExp(`tun: link (to|from) ${nodes.b.dir.peerId} open \\(relayed via`))
    // peerup status shows the interface, the peers' addresses and their links' paths
    const st = JSON.parse((await h.run(['--config', nodes.b.dir.config, 'status', '--json'], { netns: nodes.b.ns })).stdout.toString())
    assert.equal(st.tun.interface, 'peer0')
    assert.equal(st.tun.address, nodes.b.vip)
    const peer = (n: 'a' | 'c'): any => st.tun.peers.find((p: any) => p.peerId === nodes[n].dir.peerId)
    assert.deepEqual([peer('c').address, peer('c').path], [nodes.c.vip, 'direct'])
    assert.equal(peer('a').address, nodes.a.vip)
    assert.match(peer('a').path, /^relayed via /)
    assert.ok(st.tun.stats.receivedPackets >= 10, JSON.stringify(st.tun.stats))
    process.stderr.write(`# ping over TUN: direct avg ${bc.avg} ms, relayed avg ${ab.avg} ms\n`)
  })

  it('ssh c.grewal.p2p: the DNS gateway answers with the TUN address and real OpenSSH connects over TUN', async () => {
    // the name resolves, through the system resolver of b's namespace, to c's TUN address
    mkdirSync(join('/etc/netns', nodes.b.ns), { recursive: true })
    writeFileSync(join('/etc/netns', nodes.b.ns, 'resolv.conf'), 'nameserver 127.0.0.1\n')
    const dug = await lab.must(nodes.b.ns, ['dig', '+short', '+time=2', '+tries=2', 'c.grewal.p2p'])
    assert.equal(dug.trim(), nodes.c.vip)
    // a throwaway sshd in c's namespace, on all addresses
    const dir = join(h.root, 'tun-sshd')
    mkdirSync(dir, { mode: 0o700 })
    for (const k of ['host', 'user']) await lab.must(nodes.c.ns, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)])
    copyFileSync(join(dir, 'user.pub'), join(dir, 'authorized_keys'))
    writeFileSync(join(dir, 'sshd_config'), [
      'ListenAddress 0.0.0.0:2222', `HostKey ${join(dir, 'host')}`, `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PermitRootLogin prohibit-password', 'PasswordAuthentication no',
      'KbdInteractiveAuthentication no', 'StrictModes no', 'UsePAM no', 'LogLevel VERBOSE', ''
    ].join('\n'), { mode: 0o600 })
    if (!existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 })
    const sshd = spawn('ip', ['netns', 'exec', nodes.c.ns, '/usr/sbin/sshd', '-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    sshd.stderr!.on('data', (d: Buffer) => { log += d.toString() })
    try {
      await pollUntil(async () => log, l => /Server listening on 0\.0\.0\.0 port 2222/.test(l), 10_000, 100)
      const r = await lab.exec(nodes.b.ns, ['ssh', '-i', join(dir, 'user'), '-p', '2222', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=10', 'root@c.grewal.p2p', 'echo ok'], 30_000)
      assert.equal(r.stdout, 'ok\n', r.stderr)
      // the session came in over TUN, from b's mesh address
      assert.match(log, new RegExp(`Accepted publickey for root from ${nodes.b.vip!.replaceAll('.', '\\.')} `))
    } finally {
      sshd.kill('SIGKILL')
    }
  })

  it('carries a 64 MiB TCP transfer byte-exact (direct) and 16 MiB relayed', async () => {
    for (const [from, to, bytes] of [['b', 'c', 64 << 20], ['a', 'b', 16 << 20]] as const) {
      const port = 5201
      const sink = run('ip', ['netns', 'exec', nodes[to].ns, process.execPath, '-e', TCP_SINK, nodes[to].vip!, String(port), '240000'], 250_000)
      await new Promise(resolve => setTimeout(resolve, 500))
      const src = await lab.exec(nodes[from].ns, [process.execPath, '-e', TCP_SOURCE, nodes[to].vip!, String(port), String(bytes), '240000'], 250_000)
      const got = (await sink).stdout.trim().split('\n').pop()!
      const [sentBytes, sentHash, ms] = src.stdout.trim().split(' ')
      assert.equal(Number(sentBytes), bytes, src.stdout + src.stderr)
      assert.equal(got, `${bytes} ${sentHash}`)
      process.stderr.write(`# TUN TCP ${from}→${to}: ${bytes >> 20} MiB in ${ms} ms (${((bytes / 1048576) / (Number(ms) / 1000)).toFixed(1)} MiB/s)\n`)
    }
  })

  it('echoes UDP datagrams (1 to 16000 bytes) through TUN', async () => {
    const port = 5301
    const server = run('ip', ['netns', 'exec', nodes.c.ns, process.execPath, '-e', UDP_ECHO, nodes.c.vip!, String(port), '20000'], 30_000)
    await new Promise(resolve => setTimeout(resolve, 500))
    const r = await lab.exec(nodes.b.ns, [process.execPath, '-e', UDP_CLIENT, nodes.c.vip!, String(port)], 30_000)
    assert.equal(r.stdout.trim(), 'ok', r.stdout + r.stderr)
    await server
  })

  it('reaches a server on 0.0.0.0 over TUN, and not one bound to 127.0.0.1 (as README and docs/TUN.md say)', async () => {
    const loopback = run('ip', ['netns', 'exec', nodes.c.ns, process.execPath, '-e', TCP_SINK, '127.0.0.1', '5401', '6000'], 20_000)
    const any = run('ip', ['netns', 'exec', nodes.c.ns, process.execPath, '-e', TCP_SINK, '0.0.0.0', '5402', '20000'], 30_000)
    await new Promise(resolve => setTimeout(resolve, 500))
    const refused = await lab.exec(nodes.b.ns, [process.execPath, '-e', TCP_SOURCE, nodes.c.vip!, '5401', '1024', '10000'], 20_000)
    assert.equal(refused.stdout.trim(), 'error ECONNREFUSED', refused.stdout + refused.stderr)
    const sent = await lab.exec(nodes.b.ns, [process.execPath, '-e', TCP_SOURCE, nodes.c.vip!, '5402', '65536', '10000'], 20_000)
    const [bytes, hash] = sent.stdout.trim().split(' ')
    assert.equal(Number(bytes), 65536, sent.stdout + sent.stderr)
    assert.equal((await any).stdout.trim().split('\n').pop(), `65536 ${hash}`)
    // the loopback-only server never saw a byte
    assert.equal((await loopback).stdout.trim().split('\n').pop(), 'timeout 0')
  })

  it('drops and counts a packet whose source is not the sending peer\'s address', async () => {
    const spoofed = '10.64.250.250'
    await lab.must(nodes.b.ns, ['ip', 'addr', 'add', `${spoofed}/32`, 'dev', 'peer0'])
    try {
      const before = (await dump('c')).stats.dropped.spoofedSource
      const r = await lab.exec(nodes.b.ns, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', '-I', spoofed, nodes.c.vip!], 20_000)
      assert.equal(pingStats(r.stdout).received, 0, r.stdout)
      const after = (await dump('c')).stats.dropped.spoofedSource
      assert.ok(after >= before + 2, `spoofedSource ${before} → ${after}`)
      await nodes.c.proc!.waitFor(new RegExp(`tun: dropped packet \\(spoofedSource\\) from/to ${nodes.b.dir.peerId} src ${spoofed.replaceAll('.', '\\.')}`), 5000)
      // the honest source still works
      assert.equal((await ping('b', nodes.c.vip!, 2)).received, 2)
    } finally {
      await lab.must(nodes.b.ns, ['ip', 'addr', 'del', `${spoofed}/32`, 'dev', 'peer0'])
    }
  })

  it('reports a peer without TUN mode with ICMP unreachable instead of black-holing', async () => {
    // d runs a plain daemon (no TUN mode) and is allowed on b
    const d = await h.initNode('d', 'home', { host: 'd', listen: ['/ip4/0.0.0.0/tcp/4002'] })
    addAuthorizedKey(join(relay.dir, 'authorized_keys'), d.peerId)
    addAuthorizedKey(join(d.dir, 'authorized_keys'), nodes.b.dir.peerId)
    addAuthorizedKey(join(nodes.b.dir.dir, 'authorized_keys'), d.peerId)
    editYamlFile(d.config, doc => { doc.set('relays', doc.createNode([`/ip4/${NAT_LAB.relay}/tcp/7777/p2p/${relay.peerId}`])) })
    const proc = h.start(['--config', d.config, 'daemon'], { netns: nodes.c.ns })
    try {
      await proc.waitFor(/reserved on relay/, 30_000)
      // b's table picks up d from its authorized_keys within a poll or two
      const vipFile = join(nodes.b.dir.dir, 'vip-table.json')
      const table = await pollUntil(async () => existsSync(vipFile) ? readFileSync(vipFile, 'utf8') : '', text => text.includes(d.peerId), 15_000)
      const ip = (JSON.parse(table).entries as Array<{ ip: string, peer_id: string }>).find(e => e.peer_id === d.peerId)!.ip
      const r = await pollUntil(async () => await lab.exec(nodes.b.ns, ['ping', '-n', '-c', '1', '-W', '3', ip], 20_000), x => /Packet filtered|Prohibited|Unreachable/i.test(x.stdout), 30_000, 500)
      // iputils prints ICMP "communication administratively prohibited" as "Packet filtered"
      assert.match(r.stdout, /From 10\.64\.0\.1 .*Packet filtered/)
      await nodes.b.proc!.waitFor(new RegExp(`tun: peer ${d.peerId} unreachable or not running TUN mode`), 5000)
    } finally {
      proc.kill('SIGKILL')
    }
  })

  it('cuts a peer removed from authorized_keys off the TUN address', async () => {
    assert.equal((await ping('b', nodes.c.vip!, 1)).received, 1)
    removeAuthorizedKey(join(nodes.c.dir.dir, 'authorized_keys'), nodes.b.dir.peerId)
    const started = Date.now()
    await pollUntil(async () => await ping('b', nodes.c.vip!, 1), r => r.received === 0, 20_000, 200)
    process.stderr.write(`# revocation cut TUN traffic after ${Date.now() - started} ms\n`)
    // and it stays cut (no reconnect through the relay either)
    await new Promise(resolve => setTimeout(resolve, 2000))
    assert.equal((await ping('b', nodes.c.vip!, 3)).received, 0)
    assert.equal((await ping('c', nodes.b.vip!, 2)).received, 0)
  })

  it('removes the interface and its routes on SIGTERM', async () => {
    const c = nodes.c
    c.proc!.kill('SIGTERM')
    assert.equal(await c.proc!.exited, 0)
    const link = await lab.exec(c.ns, ['ip', 'link', 'show', 'dev', 'peer0'])
    assert.notEqual(link.code, 0)
    const routes = await lab.must(c.ns, ['ip', 'route'])
    assert.doesNotMatch(routes, /10\.64\./)
  })

  it('without CAP_NET_ADMIN: exit 2, a clear error, nothing set up', async () => {
    const dropped = await run('ip', ['netns', 'exec', nodes.c.ns, 'setpriv', '--bounding-set', '-net_admin', '--', process.execPath, PEERUP, '--config', nodes.c.dir.config, 'gateway', '--tun'], 60_000)
    assert.equal(dropped.code, 2, dropped.stdout + dropped.stderr)
    assert.match(dropped.stderr, /CAP_NET_ADMIN/)
    const link = await lab.exec(nodes.c.ns, ['ip', 'link', 'show', 'dev', 'peer0'])
    assert.notEqual(link.code, 0)
  })
})
