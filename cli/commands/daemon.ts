import { lib } from '../lib.js'
import { rateLimited } from '../rate-limit.js'
import { info, out } from '../run.js'
import type { AuthEvent, GatewayOptions, Gateways, TunEvent } from '../../src/index.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  program.command('daemon')
    .description('run this node: expose services, keep relay reservations, run the gateways of the config\'s gateway: section (role: home or client)')
    .action(async (_opts, cmd) => { await runDaemon(cmd) })
}

/** `peerup daemon` (and `peerup gateway`): run the node and its gateways until SIGTERM. */
export async function runDaemon (cmd: Command, gatewayOptions: GatewayOptions = {}): Promise<void> {
  const { checkStunServers, constants, createControlServer, createPeerupNode, loadConfig, startGateways, stunCheckProblem, UsageError } = await lib()
  const cfg = loadConfig(cmd.optsWithGlobals().config)
  if (cfg.config.role === 'relay') throw new UsageError(`${cfg.file}: role is "relay"; use "peerup relay serve"`)
  const node = await createPeerupNode({ config: cfg, onAuthEvent: authReporter(rateLimited(info, constants.REFUSAL_REPORT_INTERVAL)) })
  // reservation lines: subscribed before the node starts so none is missed, printed from `ready` on
  let ready = false
  const reported = new Map<string, { error: string, at: number }>()
  const reportFailure = (relay: string, error: string, attempts: number): void => {
    const last = reported.get(relay)
    const now = Date.now()
    if (last != null && last.error === error && now - last.at < constants.RESERVATION_REPORT_INTERVAL) return
    reported.set(relay, { error, at: now })
    info(last == null ? `no reservation on relay ${relay}: ${error} (retrying)` : `no reservation on relay ${relay} after ${attempts} attempts: ${error} (retrying)`)
  }
  let stunProblem: string | undefined
  let stunChecking = false
  // the WebRTC agent's own STUN fails silently: check the servers ourselves once a relay is up (stun-probe.ts)
  const checkStun = (): void => {
    if (stunChecking || !node.udp.available || node.stunServers.length === 0) return
    stunChecking = true
    checkStunServers(node.stunServers).then((checks) => {
      const problem = stunCheckProblem(checks)
      if (problem != null && problem !== stunProblem) info(`warning: ${problem}`)
      stunProblem = problem
    }, () => {}).finally(() => { stunChecking = false })
  }
  node.reservations?.on('reserved', (relay) => {
    reported.delete(relay)
    if (!ready) return
    info(`reserved on relay ${relay}`)
    checkStun()
  })
  node.reservations?.on('lost', (relay) => {
    reported.delete(relay)
    if (ready) info(`lost the reservation on relay ${relay}; retrying`)
  })
  node.reservations?.on('failed', (relay, error, attempts) => { if (ready) reportFailure(relay, error, attempts) })
  let gateways: Gateways | undefined
  const control = createControlServer({
    node,
    config: cfg,
    gateways: () => ({
      socks: gateways?.socks != null ? `${gateways.socks.address.host}:${gateways.socks.address.port}` : null,
      dns: gateways?.dns != null ? `${gateways.dns.address.host}:${gateways.dns.address.port}` : null,
      tun: gateways?.tun != null ? `${gateways.tun.interface} ${gateways.tun.address}/16` : null,
      vip: gateways?.socks != null || gateways?.dns != null || gateways?.tun != null ? gateways.vip : null
    }),
    tun: () => gateways?.tun
  })
  // before the node listens: a second daemon for the same config stops here
  await control.start()
  info(`control socket ${control.socketPath} (mode 0600)${control.metricsAddress != null ? `, metrics on http://${control.metricsAddress}/metrics` : ''}`)
  await node.start().catch(async (err) => {
    await control.stop()
    throw err
  })
  out(`peerup ${cfg.config.role} ${node.peerId}`)
  for (const a of node.libp2p.getMultiaddrs()) out(a.toString())
  for (const s of node.services.list()) info(`service ${s.name} -> ${s.localAddress} (${s.protocol})`)
  gateways = await startGateways(node, cfg, { onTunEvent: tunReporter(), ...gatewayOptions }).catch(async (err) => {
    await control.stop()
    await node.stop({ graceMs: 0 }).catch(() => {})
    throw err
  })
  if (gateways.socks != null || gateways.dns != null || gateways.tun != null) out(`vip ${gateways.vip}`)
  if (gateways.tun != null) out(`tun ${gateways.tun.interface} ${gateways.tun.address}/16 mtu ${gateways.tun.mtu}`)
  if (gateways.socks != null) out(`socks5 ${gateways.socks.address.host}:${gateways.socks.address.port}`)
  if (gateways.dns != null) out(`dns ${gateways.dns.address.host}:${gateways.dns.address.port}`)
  out('ready')
  ready = true
  // a home with a port forward (announce) or UPnP may be reachable without a relay
  if (cfg.config.role === 'home' && cfg.config.relays.length === 0 && cfg.config.network.announce.length === 0 && !cfg.config.network.upnp) {
    info(`warning: no relays in ${cfg.file}: nothing outside this node's network can reach it; add the relay's address (as \`peerup relay serve\` prints it, ending in /p2p/<relay-id>) under relays: and restart`)
  }
  for (const s of node.reservations?.state() ?? []) {
    if (s.reserved) { info(`reserved on relay ${s.relay}`); checkStun() } else if (s.lastError != null) reportFailure(s.relay, s.lastError, s.attempts)
    else info(`waiting for a reservation on relay ${s.relay}`)
  }
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    info(`daemon: stopping (grace ${cfg.config.daemon.shutdown_grace_seconds}s, ${node.services.tunnels().length} tunnels in flight)`)
    control.stop().then(async () => { await gateways?.stop() }).catch(() => {}).then(async () => { await node.stop() }).then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('SIGHUP', () => {
    info('daemon: reloading authorized_keys')
    info(`daemon: allow-lists: ${node.reloadAuth()}`)
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
