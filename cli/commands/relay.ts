import { createRelayServer, loadConfig, UsageError } from '../../src/index.js'
import { info, out } from '../run.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  const relay = program.command('relay').description('run and manage a relay server')
  relay.command('serve')
    .description('run the circuit relay from the config (role: relay)')
    .action(async (_opts, cmd) => {
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      if (cfg.config.role !== 'relay') throw new UsageError(`${cfg.file}: role is "${cfg.config.role}"; "peerup relay serve" needs role: relay`)
      const server = await createRelayServer({ config: cfg })
      await server.start()
      out(`peerup relay ${server.peerId}`)
      for (const a of server.multiaddrs()) out(a)
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
}
