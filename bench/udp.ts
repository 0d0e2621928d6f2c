/**
 * Direct UDP (WebRTC) paths in the netns NAT lab: tunnel throughput over
 * direct UDP vs direct TCP (a port forward on the home router) vs relayed
 * TCP, in one lab and one run; time from the first relayed contact to the
 * direct path; and the relay bytes saved on a 256 MiB transfer.
 *
 * Part of `npm run bench` (skip with `--skip udp`), or alone:
 * `node dist/bench/udp.js [--quick]` prints the JSON. Needs root, `ip` and
 * `nft` (the lab); without them the section reports why it did not run.
 */
import '../src/polyfill.js'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addAuthorizedKey, addNameToFile, editYamlFile } from '../src/index.js'
import { Harness } from '../test/fixtures/mesh.js'
import { assertLabCapable, createLab, NAT_LAB, type Lab } from '../test/fixtures/netns.js'
import { startUdpLab, type UdpLab } from '../test/fixtures/udp-lab.js'

const MiB = 1024 * 1024

/** Results of the UDP section. */
export interface UdpBench {
  available: boolean
  note?: string
  /** MiB per transfer, runs per path. */
  params?: { transferMiB: number, runs: number, savedMiB: number }
  /** Upload throughput (client → home service) per path class, MiB/s per run and median. */
  throughput?: Record<'direct-udp' | 'direct-tcp' | 'relayed', { runs: number[], median: number }>
  /** direct-udp median / direct-tcp median (goal ≥ 0.5). */
  udpVsTcp?: number | null
  /** ms from the first relayed ping to the first direct-UDP reply, per fresh client process. */
  timeToDirectMs?: { runs: number[], median: number | null }
  /** Bytes through the relay's uplink (rx + tx) while moving `savedMiB` MiB each way. */
  relayBytes?: { viaRelay: number, viaDirectUdp: number, savedMiB: number }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d

/** Run the section; never throws for a missing lab (returns `available: false`). */
export async function benchUdp (options: { quick: boolean, log?: (s: string) => void }): Promise<UdpBench> {
  const log = options.log ?? ((s: string) => { process.stderr.write(s + '\n') })
  try {
    await assertLabCapable()
  } catch (err: any) {
    return { available: false, note: String(err.message) }
  }
  const transferMiB = options.quick ? 32 : 64
  const runs = options.quick ? 1 : 3
  // --quick stays inside the quick run's time limit
  const savedMiB = options.quick ? 64 : 256
  let lab: Lab | undefined
  const h = new Harness()
  try {
    lab = await createLab()
    // a second client that knows the forwarded TCP address: the direct-TCP reference
    const tcpClient = await h.initNode('laptop-tcp', 'client', { listen: ['/ip4/0.0.0.0/tcp/0'] })
    const m: UdpLab = await startUdpLab(lab, h, {
      home: { forwards: [{ proto: 'tcp', port: 4001, to: NAT_LAB.home }] },
      beforeStart: ({ relay, home, relayAddr }) => {
        addAuthorizedKey(join(relay.dir, 'authorized_keys'), tcpClient.peerId, { comment: 'laptop-tcp' })
        addAuthorizedKey(join(home.dir, 'authorized_keys'), tcpClient.peerId, { comment: 'laptop-tcp' })
        addAuthorizedKey(join(tcpClient.dir, 'authorized_keys'), home.peerId, { comment: 'home' })
        editYamlFile(tcpClient.config, doc => { doc.set('relays', doc.createNode([relayAddr])) })
        addNameToFile(join(tcpClient.dir, 'names.yaml'), 'home.grewal', home.peerId, [`/ip4/${NAT_LAB.homeWan}/tcp/4001/p2p/${home.peerId}`])
      }
    })

    // time to direct: fresh client processes, each starting relayed
    const ttd: number[] = []
    for (let i = 0; i < (options.quick ? 2 : 5); i++) {
      const r = await h.run(['--config', m.client.config, 'ping', 'home.grewal', '--json', '-c', '100', '--interval', '50', '--until-direct'], { netns: m.t.client, timeoutMs: 30_000 })
      const j = JSON.parse(r.stdout.toString().trim().split('\n').pop() ?? '{}')
      if (j.class === 'direct-udp' && j.directAfterMs != null) ttd.push(j.directAfterMs)
      else log(`  udp: no direct path in ping run ${i}: ${r.stderr.slice(0, 300)}`)
    }
    log(`udp: time from first relayed contact to direct UDP: ${ttd.join(', ')} ms`)

    const udpProxy = await m.proxy('sink', 7100)
    await udpProxy.waitFor(/path to home\.grewal: direct-udp/, 20_000)
    const relayProxy = await m.proxy('sink', 7101, ['--path', 'relay'])
    const tcpProxy = h.start(['--config', tcpClient.config, 'proxy', 'home.grewal', 'sink', '7102', '--path', 'direct'], { netns: m.t.client })
    await tcpProxy.waitFor(/^ready$/m, 30_000)
    const ports = { 'direct-udp': 7100, relayed: 7101, 'direct-tcp': 7102 } as const

    const throughput: NonNullable<UdpBench['throughput']> = { 'direct-udp': { runs: [], median: 0 }, 'direct-tcp': { runs: [], median: 0 }, relayed: { runs: [], median: 0 } }
    // warm-up, then interleaved runs so a load spike hits every path alike
    for (const port of Object.values(ports)) await m.transfer(port, 8 * MiB, 'sink')
    for (let i = 0; i < runs; i++) {
      for (const [cls, port] of Object.entries(ports) as Array<[keyof typeof ports, number]>) {
        const x = await m.transfer(port, transferMiB * MiB, 'sink')
        const ok = x.error == null && x.answer != null && JSON.parse(x.answer).sha === x.sentSha
        if (!ok) { log(`  udp: ${cls} transfer failed: ${x.error ?? 'hash mismatch'}`); continue }
        throughput[cls].runs.push(round(transferMiB / (x.ms / 1000)))
      }
    }
    for (const v of Object.values(throughput)) v.median = round(median(v.runs))
    log(`udp: MiB/s up, direct-udp ${throughput['direct-udp'].median}, direct-tcp ${throughput['direct-tcp'].median}, relayed ${throughput.relayed.median}`)

    // relay bytes on a 256 MiB transfer, relayed vs direct UDP
    const b0 = await m.relayBytes()
    const viaRelayX = await m.transfer(ports.relayed, savedMiB * MiB, 'sink', 300_000)
    const b1 = await m.relayBytes()
    const viaUdpX = await m.transfer(ports['direct-udp'], savedMiB * MiB, 'sink', 300_000)
    const b2 = await m.relayBytes()
    if (viaRelayX.error != null || viaUdpX.error != null) log(`  udp: 256 MiB transfers: ${viaRelayX.error ?? 'ok'} / ${viaUdpX.error ?? 'ok'}`)
    const relayBytes = { viaRelay: b1 - b0, viaDirectUdp: b2 - b1, savedMiB: round(((b1 - b0) - (b2 - b1)) / MiB) }
    log(`udp: relay uplink bytes for ${savedMiB} MiB: relayed ${relayBytes.viaRelay}, direct UDP ${relayBytes.viaDirectUdp}`)
    return {
      available: true,
      params: { transferMiB, runs, savedMiB },
      throughput,
      udpVsTcp: throughput['direct-tcp'].median > 0 ? round(throughput['direct-udp'].median / throughput['direct-tcp'].median, 2) : null,
      timeToDirectMs: { runs: ttd, median: ttd.length > 0 ? median(ttd) : null },
      relayBytes
    }
  } catch (err: any) {
    return { available: false, note: `UDP lab failed: ${String(err.message).slice(0, 500)}` }
  } finally {
    await h.cleanup()
    await lab?.cleanup()
  }
}

/** The project target: direct UDP ≥ 0.5× direct TCP. */
export function udpTarget (r: UdpBench): { id: string, label: string, value: string, pass: boolean | null } {
  return {
    id: 'udp-vs-tcp',
    label: 'direct UDP (NAT-to-NAT) ≥ 0.5× direct TCP',
    value: r.udpVsTcp != null ? `${r.udpVsTcp}× (${r.throughput?.['direct-udp'].median} vs ${r.throughput?.['direct-tcp'].median} MiB/s)` : (r.note ?? 'not measured'),
    pass: r.udpVsTcp != null ? r.udpVsTcp >= 0.5 : null
  }
}

/** Markdown lines for docs/PERFORMANCE.md. */
export function udpMarkdown (r: UdpBench | undefined): string[] {
  if (r == null) return []
  if (!r.available || r.throughput == null) return ['## Direct UDP (NAT lab)', '', `Not measured: ${r.note ?? 'unknown'}`, '']
  const t = r.throughput
  return [
    '## Direct UDP (NAT lab)',
    '',
    `Home and client each behind its own NAT in network namespaces; upload of ${r.params!.transferMiB} MiB through \`peerup proxy\` into a sink on the home, ${r.params!.runs} run(s), median.`,
    '',
    '| path | MiB/s | runs |',
    '|---|---:|---|',
    ...(['direct-udp', 'direct-tcp', 'relayed'] as const).map(k => `| ${k} | ${t[k].median} | ${t[k].runs.join(', ')} |`),
    '',
    `- direct UDP / direct TCP: ${r.udpVsTcp ?? 'n/a'}× (goal ≥ 0.5×)`,
    `- first relayed contact → direct UDP: median ${r.timeToDirectMs?.median ?? 'n/a'} ms (${r.timeToDirectMs?.runs.join(', ') ?? ''})`,
    `- relay uplink bytes for ${r.params!.savedMiB} MiB: relayed ${r.relayBytes!.viaRelay}, direct UDP ${r.relayBytes!.viaDirectUdp} (saved ${r.relayBytes!.savedMiB} MiB)`,
    ''
  ]
}

if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await benchUdp({ quick: process.argv.includes('--quick') })
  process.stdout.write(JSON.stringify(r, null, 2) + '\n')
  process.exit(r.available ? 0 : 1)
}
