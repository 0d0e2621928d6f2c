import { files, lib } from '../lib.js'
import { info, out, table } from '../run.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  const relay = program.command('relay').description('run and manage a relay server')
  relay.command('serve')
    .description('run the circuit relay from the config (role: relay)')
    .action(async (_opts, cmd) => {
      const { createRelayServer, loadConfig, UsageError } = await lib()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      if (cfg.config.role !== 'relay') throw new UsageError(`${cfg.file}: role is "${cfg.config.role}"; "peerup relay serve" needs role: relay`)
      const server = await createRelayServer({ config: cfg, onNotice: info })
      await server.start()
      out(`peerup relay ${server.peerId}`)
      for (const a of server.multiaddrs()) out(a)
      const stun = server.stun()
      const metrics = server.metricsAddress()
      if (metrics != null) info(`relay: metrics on http://${metrics}/metrics`)
      info(stun.port != null ? `relay: STUN on udp port ${stun.port} (${(stun.addresses ?? []).join(', ')})` : `relay: no STUN responder (${stun.error ?? 'off'}); nodes behind NAT need network.stun for direct UDP paths`)
      out('ready')
      let stopping = false
      const stop = (): void => {
        if (stopping) return
        stopping = true
        info('relay: stopping')
        server.stop().finally(() => process.exit(0))
      }
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
      process.on('SIGHUP', () => { info('relay: reloading authorized_keys'); server.reloadAuth() })
    })
  relay.command('status')
    .description('ask the running relay (same config) for its reservations, circuits, memory and open descriptors')
    .option('--json', 'JSON output: {peerId, reservations, activeCircuits, circuitsOpened, circuitsRefused, refusedByLimit, bytesRelayed, bytesInFlightCircuits, pausedCircuits, connections, peers, process: {rssMiB, heapUsedMiB, heapTotalMiB, externalMiB, arrayBuffersMiB, fds, uptimeSeconds}}')
    .action(async (opts, cmd) => {
      const { loadConfig, UsageError, constants } = await files()
      const { queryStatusSocket } = await import('../../src/control/index.js')
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      if (cfg.config.role !== 'relay') throw new UsageError(`${cfg.file}: role is "${cfg.config.role}"; "peerup relay status" needs role: relay`)
      const socket = cfg.config.relay?.status_socket ?? constants.RELAY_STATUS_SOCKET
      if (socket === false) throw new UsageError(`${cfg.file}: relay.status_socket is false; turn it on to query the relay`)
      const s = await queryStatusSocket(cfg.path(socket)) as Record<string, any>
      if (opts.json === true) { out(JSON.stringify(s)); return }
      const p = s.process ?? {}
      table([
        ['peer ID', String(s.peerId)],
        ['reservations', String(s.reservations)],
        ['connections', `${s.connections} (${s.peers} peers)`],
        ['circuits open', `${s.activeCircuits} (${s.pausedCircuits} paused by a slow side)`],
        ['circuits opened', String(s.circuitsOpened)],
        ['circuits refused', `${s.circuitsRefused} (${s.refusedByLimit} by a limit)`],
        ['bytes relayed', String(s.bytesRelayed + s.bytesInFlightCircuits)],
        ['memory', `RSS ${p.rssMiB} MiB, heap ${p.heapUsedMiB}/${p.heapTotalMiB} MiB, buffers ${p.arrayBuffersMiB} MiB`],
        ['open fds', String(p.fds)],
        ['uptime', `${p.uptimeSeconds} s`]
      ])
    })
  const names = relay.command('names').description('the relay\'s name registry')
  const registryFile = async (cmd: Command): Promise<string> => {
    const { loadConfig } = await files()
    const cfg = loadConfig(cmd.optsWithGlobals().config)
    return cfg.path(cfg.config.relay?.registry_file ?? 'names-registry.json')
  }
  names.command('list')
    .description('list the names members have registered on this relay')
    .option('--json', 'JSON output: [{network, host, peerId, registeredAt}]')
    .action(async (opts, cmd) => {
      const { readRegistryFile } = await files()
      const rows = readRegistryFile(await registryFile(cmd))
      if (opts.json === true) { out(JSON.stringify(rows)); return }
      table([['NAME', 'PEER ID', 'REGISTERED'], ...rows.map(r => [`${r.host}.${r.network}`, r.peerId, r.registeredAt])])
    })
  names.command('remove <name>')
    .description('free a name (host.network) so another peer may register it')
    .action(async (name: string, _opts, cmd) => {
      const { NameNotFoundError, removeFromRegistryFile } = await files()
      const file = await registryFile(cmd)
      if (!removeFromRegistryFile(file, name)) throw new NameNotFoundError(name, [file])
      info(`removed ${name} from ${file}`)
    })
}
