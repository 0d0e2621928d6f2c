/**
 * TUN mode in the netns NAT lab: TCP throughput through the TUN interface
 * against the `peerup proxy` path and raw TCP in the same run, and ping RTT
 * over TUN, direct and relayed.
 *
 * The lab: `laptop` (client LAN) and `desk` (the same LAN) reach each other
 * directly; `home` sits behind its own NAT and is reached through the relay.
 * laptop, desk and home run `peerup gateway --tun`; a second client
 * (`laptop-proxy`, no TUN) in the laptop's namespace runs the `peerup proxy`
 * reference paths, so the two never share a peer ID. Every transfer is an
 * upload from the laptop's namespace into a sha256-checking sink.
 *
 * Part of `npm run bench` (skip with `--skip tun`), or alone:
 * `node dist/bench/tun.js [--quick]` prints the JSON. Needs root, `ip`,
 * `nft`, `/dev/net/tun` and koffi; without them the section says why it did
 * not run.
 */
import '../src/polyfill.js'
import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addAuthorizedKey, addNameToFile, addServiceToConfig, editYamlFile } from '../src/index.js'
import { Harness, type NodeDir, type Proc } from '../test/fixtures/mesh.js'
import { assertLabCapable, createLab, natTopology, NAT_LAB, type Lab } from '../test/fixtures/netns.js'
import { SINK_SERVER, TRANSFER_CLIENT, type Transfer } from '../test/fixtures/udp-lab.js'
import { median, round } from './stats.js'

const MiB = 1024 * 1024
const SINK_PORT = 5002

/** The paths of the TUN section. */
export const TUN_PATHS = ['raw TCP (LAN)', 'proxy direct', 'TUN direct', 'proxy relayed', 'TUN relayed'] as const
export type TunPath = typeof TUN_PATHS[number]

/** Ping RTT summary (ms). */
export interface RttStats { n: number, lost: number, p50: number | null, avg: number | null, max: number | null }

/** Results of the TUN section. */
export interface TunBench {
  available: boolean
  note?: string
  params?: { transferMiB: number, runs: number, pings: number, mtu: number }
  /** Upload throughput per path, MiB/s per run and median. */
  throughput?: Record<TunPath, { runs: number[], median: number }>
  /** TUN direct / proxy direct, TUN relayed / proxy relayed, TUN direct / raw. */
  ratios?: { tunVsProxyDirect: number | null, tunVsProxyRelayed: number | null, tunDirectVsRaw: number | null }
  /** ICMP echo RTT: raw over the LAN, over TUN direct and over TUN relayed. */
  ping?: Record<'raw LAN' | 'TUN direct' | 'TUN relayed', RttStats>
}


/** Parse `ping -n` output: per-reply times and the number sent. */
export function parsePing (out: string, sent: number): RttStats {
  const times = [...out.matchAll(/time=([\d.]+) ms/g)].map(m => Number(m[1]))
  return {
    n: times.length,
    lost: sent - times.length,
    p50: times.length > 0 ? round(median(times), 2) : null,
    avg: times.length > 0 ? round(times.reduce((a, b) => a + b, 0) / times.length, 2) : null,
    max: times.length > 0 ? round(Math.max(...times), 2) : null
  }
}

/** Run the section; never throws for a missing lab (returns `available: false`). */
export async function benchTun (options: { quick: boolean, log?: (s: string) => void }): Promise<TunBench> {
  const log = options.log ?? ((s: string) => { process.stderr.write(s + '\n') })
  try {
    await assertLabCapable()
    const { loadLibc } = await import('../src/tun/libc.js')
    loadLibc()
  } catch (err: any) {
    return { available: false, note: String(err.message) }
  }
  const transferMiB = options.quick ? 32 : 128
  const runs = options.quick ? 1 : 3
  const pings = options.quick ? 20 : 50
  let lab: Lab | undefined
  const h = new Harness()
  try {
    lab = await createLab()
    const t = await natTopology(lab, { lanPeer: true })
    const relay = await h.initNode('relay', 'relay', { listen: ['/ip4/0.0.0.0/tcp/7777'] })
    const relayAddr = `/ip4/${NAT_LAB.relay}/tcp/7777/p2p/${relay.peerId}`
    const laptop = await h.initNode('laptop', 'home', { host: 'laptop', listen: ['/ip4/0.0.0.0/tcp/4001'] })
    const proxyClient = await h.initNode('laptop-proxy', 'client', { listen: ['/ip4/0.0.0.0/tcp/4002'] })
    const desk = await h.initNode('desk', 'home', { host: 'desk', listen: ['/ip4/0.0.0.0/tcp/4001'] })
    const home = await h.initNode('home', 'home', { host: 'home', listen: ['/ip4/0.0.0.0/tcp/4001'] })
    const keys = (n: NodeDir): string => join(n.dir, 'authorized_keys')
    for (const n of [laptop, proxyClient, desk, home]) {
      addAuthorizedKey(keys(relay), n.peerId)
      editYamlFile(n.config, doc => { doc.set('relays', doc.createNode([relayAddr])) })
    }
    for (const server of [desk, home]) {
      addServiceToConfig(server.config, 'sink', `127.0.0.1:${SINK_PORT}`)
      for (const c of [laptop, proxyClient]) {
        addAuthorizedKey(keys(server), c.peerId)
        addAuthorizedKey(keys(c), server.peerId)
      }
    }
    // desk is on the laptop's LAN: both know each other's address (direct from the start)
    addNameToFile(join(laptop.dir, 'names.yaml'), 'desk.grewal', desk.peerId, [`/ip4/${NAT_LAB.lanPeer}/tcp/4001`])
    addNameToFile(join(desk.dir, 'names.yaml'), 'laptop.grewal', laptop.peerId, [`/ip4/${NAT_LAB.client}/tcp/4001`])
    addNameToFile(join(proxyClient.dir, 'names.yaml'), 'desk.grewal', desk.peerId, [`/ip4/${NAT_LAB.lanPeer}/tcp/4001`])
    addNameToFile(join(proxyClient.dir, 'names.yaml'), 'home.grewal', home.peerId, [])

    // sinks on desk and home (all addresses: LAN, TUN and the service's loopback)
    for (const ns of [t.lanPeer!, t.home]) {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SINK_SERVER, String(SINK_PORT)], { stdio: ['ignore', 'pipe', 'inherit'] })
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error('sink did not start')) }, 10_000)
        child.stdout.once('data', () => { clearTimeout(timer); resolve() })
      })
    }
    const relayProc = h.start(['--config', relay.config, 'relay', 'serve'], { netns: t.relay })
    await relayProc.waitFor(/^ready$/m, 30_000)
    const tunNode = async (n: NodeDir, ns: string): Promise<{ proc: Proc, vip: string, mtu: number }> => {
      const proc = h.start(['--config', n.config, 'gateway', '--tun'], { netns: ns, env: { DEBUG: '' } })
      await proc.waitFor(/^ready$/m, 30_000)
      await proc.waitFor(/reserved on relay/, 30_000)
      const m = /^tun \S+ (\S+)\/\d+ mtu (\d+)$/m.exec(proc.stdout())
      if (m == null) throw new Error(`no TUN line from ${n.dir}: ${proc.stdout()}`)
      return { proc, vip: m[1], mtu: Number(m[2]) }
    }
    await tunNode(laptop, t.client)
    const d = await tunNode(desk, t.lanPeer!)
    const hm = await tunNode(home, t.home)
    const proxy = async (target: string, port: number, path: 'direct' | 'relay'): Promise<Proc> => {
      const p = h.start(['--config', proxyClient.config, 'proxy', target, 'sink', String(port), '--path', path], { netns: t.client })
      await p.waitFor(/^ready$/m, 30_000)
      return p
    }
    await proxy('desk.grewal', 7200, 'direct')
    await proxy('home.grewal', 7201, 'relay')
    const targets: Record<TunPath, [string, number]> = {
      'raw TCP (LAN)': [NAT_LAB.lanPeer, SINK_PORT],
      'proxy direct': ['127.0.0.1', 7200],
      'TUN direct': [d.vip, SINK_PORT],
      'proxy relayed': ['127.0.0.1', 7201],
      'TUN relayed': [hm.vip, SINK_PORT]
    }
    const transfer = async (path: TunPath, bytes: number): Promise<Transfer> => {
      const [host, port] = targets[path]
      const r = await lab!.exec(t.client, [process.execPath, '-e', TRANSFER_CLIENT, host, String(port), String(bytes), 'sink'], 300_000)
      const line = r.stdout.trim().split('\n').pop() ?? ''
      try { return JSON.parse(line) as Transfer } catch { throw new Error(`transfer client (${path}): ${r.stdout} ${r.stderr}`) }
    }

    // warm-up (opens the TUN links and the tunnels), then interleaved runs
    for (const p of TUN_PATHS) await transfer(p, 4 * MiB)
    const throughput = Object.fromEntries(TUN_PATHS.map(p => [p, { runs: [] as number[], median: 0 }])) as NonNullable<TunBench['throughput']>
    for (let i = 0; i < runs; i++) {
      for (const p of TUN_PATHS) {
        const x = await transfer(p, transferMiB * MiB)
        const ok = x.error == null && x.answer != null && JSON.parse(x.answer).sha === x.sentSha
        if (!ok) { log(`  tun: ${p} transfer failed: ${x.error ?? 'hash mismatch'}`); continue }
        throughput[p].runs.push(round(transferMiB / (x.ms / 1000), 1))
      }
    }
    for (const v of Object.values(throughput)) v.median = round(median(v.runs), 1)
    log(`tun: MiB/s up, ${TUN_PATHS.map(p => `${p} ${throughput[p].median}`).join(', ')}`)

    const ping = async (to: string): Promise<RttStats> => {
      await lab!.exec(t.client, ['ping', '-n', '-c', '3', '-i', '0.05', '-W', '2', to], 20_000)
      const r = await lab!.exec(t.client, ['ping', '-n', '-c', String(pings), '-i', '0.05', '-W', '2', to], 60_000)
      return parsePing(r.stdout, pings)
    }
    const rtt = { 'raw LAN': await ping(NAT_LAB.lanPeer), 'TUN direct': await ping(d.vip), 'TUN relayed': await ping(hm.vip) }
    log(`tun: ping p50 ms, raw ${rtt['raw LAN'].p50}, TUN direct ${rtt['TUN direct'].p50}, TUN relayed ${rtt['TUN relayed'].p50}`)
    const ratio = (a: number, b: number): number | null => b > 0 && a > 0 ? round(a / b, 2) : null
    return {
      available: true,
      params: { transferMiB, runs, pings, mtu: d.mtu },
      throughput,
      ratios: {
        tunVsProxyDirect: ratio(throughput['TUN direct'].median, throughput['proxy direct'].median),
        tunVsProxyRelayed: ratio(throughput['TUN relayed'].median, throughput['proxy relayed'].median),
        tunDirectVsRaw: ratio(throughput['TUN direct'].median, throughput['raw TCP (LAN)'].median)
      },
      ping: rtt
    }
  } catch (err: any) {
    return { available: false, note: `TUN lab failed: ${String(err.message).slice(0, 500)}` }
  } finally {
    await h.cleanup()
    await lab?.cleanup()
  }
}

/** Markdown lines for docs/PERFORMANCE.md. */
export function tunMarkdown (r: TunBench | undefined): string[] {
  if (r == null) return []
  if (!r.available || r.throughput == null) return ['## TUN mode (NAT lab)', '', `Not measured: ${r.note ?? 'unknown'}`, '']
  const t = r.throughput
  const p = r.params!
  return [
    '## TUN mode (NAT lab)',
    '',
    `Three \`peerup gateway --tun\` nodes in network namespaces: laptop and desk on one LAN (direct), home behind its own NAT (relayed). Upload of ${p.transferMiB} MiB from the laptop's namespace into a sha256-checking sink, ${p.runs} interleaved run(s), median; TUN MTU ${p.mtu}. The proxy rows use a second client without TUN mode in the same namespace.`,
    '',
    '| path | MiB/s | runs |',
    '|---|---:|---|',
    ...TUN_PATHS.map(k => `| ${k} | ${t[k].median} | ${t[k].runs.join(', ')} |`),
    '',
    `- TUN direct / proxy direct: ${r.ratios?.tunVsProxyDirect ?? 'n/a'}×; TUN relayed / proxy relayed: ${r.ratios?.tunVsProxyRelayed ?? 'n/a'}×; TUN direct / raw TCP: ${r.ratios?.tunDirectVsRaw ?? 'n/a'}×`,
    '',
    `Ping RTT (${p.pings} echoes at 50 ms, after a warm-up), ms:`,
    '',
    '| path | p50 | avg | max | lost |',
    '|---|---:|---:|---:|---:|',
    ...Object.entries(r.ping ?? {}).map(([k, v]) => `| ${k} | ${v.p50 ?? 'n/a'} | ${v.avg ?? 'n/a'} | ${v.max ?? 'n/a'} | ${v.lost} |`),
    ''
  ]
}

if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await benchTun({ quick: process.argv.includes('--quick') })
  process.stdout.write(JSON.stringify(r, null, 2) + '\n')
  process.exit(r.available ? 0 : 1)
}
