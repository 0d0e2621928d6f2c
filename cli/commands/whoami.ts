import { files } from '../lib.js'
import { out } from '../run.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  program.command('whoami')
    .description('print this node\'s peer ID')
    .option('--json', 'JSON output: {peerId, role, network, host, name, vip}')
    .action(async (opts, cmd) => {
      const { constants, createVirtualIpTable, loadConfig, loadIdentityFile, peerIdOf } = await files()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      const id = peerIdOf(loadIdentityFile(cfg.path(cfg.config.identity.key_file))).toString()
      if (opts.json === true) {
        const { network } = cfg.config
        out(JSON.stringify({
          peerId: id,
          role: cfg.config.role,
          network: network.name ?? null,
          host: network.host ?? null,
          name: network.host != null && network.name != null ? `${network.host}.${network.name}` : null,
          // this node's virtual IP, as the gateways hand it out (vip-table.json, not written here)
          vip: createVirtualIpTable({ file: cfg.path(constants.VIP_TABLE_FILE), readOnly: true }).assign(id, network.host != null && network.name != null ? `${network.host}.${network.name}` : undefined)
        }))
      } else {
        out(id)
      }
    })
}
