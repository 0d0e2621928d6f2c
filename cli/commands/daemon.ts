import { lib } from '../lib.js'
import { rateLimited } from '../rate-limit.js'
import { info, out } from '../run.js'
import type { AuthEvent, GatewayOptions, TunEvent } from '../../src/index.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  program.command('daemon')
    .description('run this node: expose services, keep relay reservations, run the gateways of the config\'s gateway: section (role: home or client)')
    .action(async (_opts, cmd) => { await runDaemon(cmd) })
}

/** `peerup daemon` (and `peerup gateway`): createDaemon, its output, and the signals. */
export async function runDaemon (cmd: Command, gateways: Omit<GatewayOptions, 'onTunEvent'> = {}): Promise<void> {
  const { constants, createDaemon, loadConfig } = await lib()
  const config = loadConfig(cmd.optsWithGlobals().config)
  const daemon = await createDaemon({ config, gateways })
  const auth = authReporter(rateLimited(info, constants.REFUSAL_REPORT_INTERVAL))
  daemon.on('auth', auth)
  daemon.on('tun', tunReporter())
  daemon.on('control', (c) => { info(`control socket ${c.socketPath} (mode 0600)${c.metricsAddress != null ? `, metrics on http://${c.metricsAddress}/metrics` : ''}`) })
  daemon.on('reserved', (relay) => { info(`reserved on relay ${relay}`) })
  daemon.on('lost', (relay) => { info(`lost the reservation on relay ${relay}; retrying`) })
  daemon.on('reservation-failed', (f) => {
    info(f.first ? `no reservation on relay ${f.relay}: ${f.error} (retrying)` : `no reservation on relay ${f.relay} after ${f.attempts} attempts: ${f.error} (retrying)`)
  })
  daemon.on('waiting', (relay) => { info(`waiting for a reservation on relay ${relay}`) })
  daemon.on('warning', (message) => { info(`warning: ${message}`) })
  daemon.on('stopping', (s) => { info(`daemon: stopping (grace ${s.graceSeconds}s, ${s.tunnels} tunnels in flight)`) })
  await daemon.start()
  const { node } = daemon
  out(`peerup ${config.config.role} ${node.peerId}`)
  for (const a of node.libp2p.getMultiaddrs()) out(a.toString())
  for (const s of node.services.list()) info(`service ${s.name} -> ${s.localAddress} (${s.protocol})`)
  const g = daemon.gateways
  if (g?.socks != null || g?.dns != null || g?.tun != null) out(`vip ${g.vip}`)
  if (g?.tun != null) out(`tun ${g.tun.interface} ${g.tun.address}/16 mtu ${g.tun.mtu}`)
  if (g?.socks != null) out(`socks5 ${g.socks.address.host}:${g.socks.address.port}`)
  if (g?.dns != null) out(`dns ${g.dns.address.host}:${g.dns.address.port}`)
  out('ready')
  const stop = (): void => { daemon.stop().then(() => process.exit(0), () => process.exit(1)) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('SIGHUP', () => {
    info('daemon: reloading authorized_keys')
    info(`daemon: allow-lists: ${daemon.reload()}`)
  })
}

/**
 * Report refusals (one line per peer and service per window, with a count
 * of the ones left out) and allow-list changes on stderr.
 */
function authReporter (report: (key: string, line: string) => void): (e: AuthEvent) => void {
  return (e) => {
    if (e.type === 'lists') { info(`daemon: ${e.changes.join('; ')} (allow-lists: ${e.summary})`); return }
    if (e.type === 'config-error') { info(`daemon: config not reloaded: ${e.message}`); return }
    const who = `${e.peer}${e.comment != null ? ` (${e.comment})` : ''}`
    if (e.service != null) report(`${e.peer} service ${e.service}`, `daemon: denied ${who} the service ${e.service}: ${e.reason}`)
    else report(`${e.peer} connection`, `daemon: denied ${e.where} from ${who}: ${e.reason}`)
  }
}

/**
 * Report TUN mode's drops and unreachable peers on stderr: the first of each
 * kind per peer at once, then at most one line per kind and peer every 10 s
 * with the count since.
 */
function tunReporter (): (e: TunEvent) => void {
  const last = new Map<string, { at: number, count: number }>()
  return (e) => {
    if (e.type === 'link') { info(`tun: link ${e.initiator ? 'to' : 'from'} ${e.peerId} open (${e.path})`); return }
    const key = e.type === 'drop' ? `${e.reason} ${e.peerId ?? e.dst ?? ''}` : `unreachable ${e.peerId}`
    const now = Date.now()
    const seen = last.get(key)
    if (seen != null && now - seen.at < 10_000) { seen.count++; return }
    const more = seen != null && seen.count > 0 ? ` (+${seen.count} since last report)` : ''
    last.set(key, { at: now, count: 0 })
    if (e.type === 'unreachable') info(`tun: peer ${e.peerId} unreachable or not running TUN mode: ${e.error}${more}`)
    else info(`tun: dropped packet (${e.reason})${e.peerId != null ? ` from/to ${e.peerId}` : ''}${e.src != null ? ` src ${e.src}` : ''}${e.dst != null ? ` dst ${e.dst}` : ''}${more}`)
  }
}
