import { lib } from '../lib.js'
import { info, out } from '../run.js'
import type { GatewayOptions, Gateways } from '../../src/index.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  program.command('daemon')
    .description('run this node: expose services, keep relay reservations, run the gateways of the config\'s gateway: section (role: home or client)')
    .action(async (_opts, cmd) => { await runDaemon(cmd) })
}

/** `peerup daemon` (and `peerup gateway`): run the node and its gateways until SIGTERM. */
export async function runDaemon (cmd: Command, gatewayOptions: GatewayOptions = {}): Promise<void> {
  const { createControlServer, createPeerupNode, loadConfig, startGateways, UsageError } = await lib()
  const cfg = loadConfig(cmd.optsWithGlobals().config)
  if (cfg.config.role === 'relay') throw new UsageError(`${cfg.file}: role is "relay"; use "peerup relay serve"`)
  const node = await createPeerupNode({ config: cfg })
  let gateways: Gateways | undefined
  const control = createControlServer({
    node,
    config: cfg,
    gateways: () => ({
      socks: gateways?.socks != null ? `${gateways.socks.address.host}:${gateways.socks.address.port}` : null,
      dns: gateways?.dns != null ? `${gateways.dns.address.host}:${gateways.dns.address.port}` : null,
      vip: gateways?.socks != null || gateways?.dns != null ? gateways.vip : null
    })
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
  gateways = await startGateways(node, cfg, gatewayOptions).catch(async (err) => {
    await control.stop()
    await node.stop({ graceMs: 0 }).catch(() => {})
    throw err
  })
  if (gateways.socks != null || gateways.dns != null) out(`vip ${gateways.vip}`)
  if (gateways.socks != null) out(`socks5 ${gateways.socks.address.host}:${gateways.socks.address.port}`)
  if (gateways.dns != null) out(`dns ${gateways.dns.address.host}:${gateways.dns.address.port}`)
  out('ready')
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    info(`daemon: stopping (grace ${cfg.config.daemon.shutdown_grace_seconds}s, ${node.services.tunnels().length} tunnels in flight)`)
    control.stop().then(async () => { await gateways?.stop() }).catch(() => {}).then(async () => { await node.stop() }).then(() => process.exit(0), () => process.exit(1))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('SIGHUP', () => { info('daemon: reloading authorized_keys'); node.reloadAuth() })
  if (node.reservations != null) {
    const seen = new Map<string, boolean>()
    setInterval(() => {
      for (const s of node.reservations!.state()) {
        if (seen.get(s.relay) !== s.reserved) {
          seen.set(s.relay, s.reserved)
          info(s.reserved ? `reserved on relay ${s.relay}` : `no reservation on relay ${s.relay}${s.lastError != null ? `: ${s.lastError}` : ''} (retrying)`)
        }
      }
    }, 250).unref()
  }
}
