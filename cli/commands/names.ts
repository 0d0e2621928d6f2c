import { files } from '../lib.js'
import { info, out, table } from '../run.js'
import type { Command } from 'commander'

const collect = (v: string, prev: string[]): string[] => [...prev, v]

export function register (program: Command): void {
  const names = program.command('names').description('edit the local names file (tier 1 of name resolution)')
  names.command('add <name> <peer-id>')
    .description('map a name to a peer ID (and direct addresses) in names.yaml')
    .option('--addr <multiaddr>', 'a direct address of the peer (repeatable)', collect, [])
    .action(async (name: string, peerId: string, opts, cmd) => {
      const { addNameToFile, loadConfig } = await files()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      const file = cfg.path(cfg.config.names_file)
      addNameToFile(file, name, peerId, opts.addr)
      info(`${name} -> ${peerId} written to ${file}`)
    })
  names.command('remove <name>')
    .description('remove a name from names.yaml')
    .action(async (name: string, _opts, cmd) => {
      const { loadConfig, NameNotFoundError, removeNameFromFile } = await files()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      const file = cfg.path(cfg.config.names_file)
      if (!removeNameFromFile(file, name)) throw new NameNotFoundError(name, [file])
      info(`${name} removed from ${file}`)
    })
  names.command('list')
    .description('list the names in names.yaml')
    .option('--json', 'JSON output: [{name, peerId, addrs}]')
    .action(async (opts, cmd) => {
      const { loadConfig, readNamesFile } = await files()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      const entries = readNamesFile(cfg.path(cfg.config.names_file))
      if (opts.json === true) { out(JSON.stringify(entries)); return }
      table([['NAME', 'PEER ID', 'ADDRESSES'], ...entries.map(e => [e.name, e.peerId, e.addrs.join(',')])])
    })
}
