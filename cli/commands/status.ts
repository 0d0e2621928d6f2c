import { dirname } from 'node:path'
import { control } from '../lib.js'
import { out } from '../run.js'
import { renderStatus } from '../status-view.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  program.command('status')
    .description('show the running daemon of this config: addresses, relays, peers and paths, tunnels, bytes (exit 4 when no daemon runs)')
    .option('--json', 'JSON output: {peerId, role, addresses, relays, peers: [{peerId, name, comment, path, class, via, ...}], services, tunnels, bytes, gateways, ...}')
    .action(async (opts, cmd) => {
      const { controlSocketPath, createControlClient, findConfigFile } = await control()
      const socketPath = controlSocketPath(dirname(findConfigFile(cmd.optsWithGlobals().config)))
      const status = await createControlClient({ socketPath }).status()
      if (opts.json === true) out(JSON.stringify(status))
      else for (const line of renderStatus(status)) out(line)
    })
}
