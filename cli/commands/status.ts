import { dirname } from 'node:path'
import { control } from '../lib.js'
import { out, table } from '../run.js'
import type { DaemonStatus } from '../../src/control/index.js'
import type { Command } from 'commander'

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`

function human (s: DaemonStatus): void {
  const name = s.host != null && s.network != null ? ` ${s.host}.${s.network}` : ''
  out(`peerup ${s.role}${name} ${s.peerId} (pid ${s.pid}, up ${s.uptimeSeconds}s, rss ${mib(s.rssBytes)})`)
  out(`control ${s.controlSocket}${s.metricsListen != null ? `  metrics http://${s.metricsListen}/metrics` : ''}`)
  out(`bytes in ${s.bytes.in}  out ${s.bytes.out}`)
  if (s.gateways.socks != null || s.gateways.dns != null || s.gateways.tun != null) out(`gateways socks ${s.gateways.socks ?? 'off'}  dns ${s.gateways.dns ?? 'off'}  tun ${s.gateways.tun ?? 'off'}  vip ${s.gateways.vip ?? '-'}`)
  out('')
  out('addresses:')
  for (const a of s.addresses) out(`  ${a}`)
  if (s.relays.length > 0) {
    out('')
    table([['RELAY', 'CONNECTED', 'RESERVED', 'LAST ERROR'], ...s.relays.map(r => [r.addr, String(r.connected), String(r.reserved), r.lastError ?? '-'])])
  }
  out('')
  table([['PEER', 'PATH', 'VIA', 'STREAMS', 'REMOTE ADDRESS'], ...s.peers.map(p => [p.peerId + (p.relay ? ' (relay)' : ''), p.path, p.via ?? '-', String(p.streams), p.remoteAddr])])
  if (s.services.length > 0) {
    out('')
    table([['SERVICE', 'LOCAL ADDRESS', 'PROTOCOL'], ...s.services.map(v => [v.name, v.localAddress, v.protocol])])
  }
  if (s.tun != null) {
    const st = s.tun.stats
    const dropped = Object.entries(st.dropped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')
    out('')
    out(`tun ${s.tun.interface} ${s.tun.address}/16 mtu ${s.tun.mtu}: sent ${st.sentPackets} packets (${st.sentBytes} bytes), received ${st.receivedPackets} (${st.receivedBytes} bytes), dropped ${dropped !== '' ? dropped : 'none'}`)
    table([['TUN PEER', 'ADDRESS', 'LINK'], ...s.tun.peers.map(p => [p.peerId, p.address, p.path ?? '-'])])
  }
  out('')
  table([['TUNNEL', 'SERVICE', 'PEER', 'PATH', 'IN', 'OUT', 'SINCE'], ...s.tunnels.map(t => [t.direction, t.service, t.target ?? t.peerId, t.path ?? '-', String(t.bytesIn), String(t.bytesOut), t.startedAt])])
}

export function register (program: Command): void {
  program.command('status')
    .description('show the running daemon of this config: addresses, relays, peers and paths, tunnels, bytes (exit 4 when no daemon runs)')
    .option('--json', 'JSON output: {peerId, role, addresses, relays, peers, services, tunnels, bytes, gateways, ...}')
    .action(async (opts, cmd) => {
      const { controlSocketPath, createControlClient, findConfigFile } = await control()
      const socketPath = controlSocketPath(dirname(findConfigFile(cmd.optsWithGlobals().config)))
      const status = await createControlClient({ socketPath }).status()
      if (opts.json === true) out(JSON.stringify(status))
      else human(status)
    })
}
