import { askDaemon } from '../ask-daemon.js'
import { files, lib } from '../lib.js'
import { info, out, table } from '../run.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  const service = program.command('service').description('manage exposed services')
  service.command('add <name> <host:port>')
    .description('expose a local TCP service to allowed peers (restart the daemon to expose a new one)')
    .option('--protocol <id>', 'custom protocol ID (default /peerup/<name>/1.0.0)')
    .action(async (name: string, addr: string, opts, cmd) => {
      const { addServiceToConfig, loadConfig } = await files()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      addServiceToConfig(cfg.file, name, addr, { protocol: opts.protocol })
      info(`service ${name} -> ${addr} added to ${cfg.file} (restart or SIGHUP is not needed for auth; restart the daemon to expose it)`)
    })
  service.command('remove <name>')
    .description('remove a service from the config')
    .action(async (name: string, _opts, cmd) => {
      const { loadConfig, removeServiceFromConfig, ServiceNotFoundError } = await files()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      if (!removeServiceFromConfig(cfg.file, name)) throw new ServiceNotFoundError(`no service named "${name}" in ${cfg.file}`)
      info(`service ${name} removed from ${cfg.file}`)
    })
  service.command('list')
    .description('list this node\'s services, or with --peer the services a remote node lets us use')
    .option('--json', 'JSON output: [{name, localAddress, protocol, enabled, authorizedKeys}]; with --peer: [{name, port, protocol}]')
    .option('--peer <target>', 'list the services a remote node lets us use')
    .option('--no-daemon', 'with --peer: ask from a node in this process even when a daemon runs for this config')
    .action(async (opts, cmd) => {
      if (opts.peer != null) {
        const asked = opts.daemon !== false ? await askDaemon(cmd, async (client) => await client.remoteServices(opts.peer)) : undefined
        let list
        if (asked != null) list = asked.value
        else {
          const { createPeerupNode, loadConfig } = await lib()
          const node = await createPeerupNode({ config: loadConfig(cmd.optsWithGlobals().config), listen: [], serve: false })
          await node.start()
          list = await node.remoteServices(opts.peer).finally(async () => { await node.stop({ graceMs: 0 }).catch(() => {}) })
        }
        if (opts.json === true) out(JSON.stringify(list))
        else table([['NAME', 'PORT', 'PROTOCOL'], ...list.map(e => [e.name, String(e.port), e.protocol])])
        return
      }
      const { loadConfig, serviceProtocol } = await files()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      const rows = Object.entries(cfg.config.services).map(([name, s]) => ({
        name, localAddress: s.local_address, protocol: s.protocol ?? serviceProtocol(name), enabled: s.enabled, authorizedKeys: s.authorized_keys ?? null
      }))
      if (opts.json === true) { out(JSON.stringify(rows)); return }
      table([['NAME', 'LOCAL ADDRESS', 'PROTOCOL', 'ENABLED', 'ALLOW-LIST'], ...rows.map(r => [r.name, r.localAddress, r.protocol, String(r.enabled), r.authorizedKeys ?? 'global'])])
    })
}
