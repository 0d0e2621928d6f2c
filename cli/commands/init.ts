import { basename, dirname, resolve } from 'node:path'
import { files } from '../lib.js'
import { info, out } from '../run.js'
import type { Command } from 'commander'

const collect = (v: string, prev: string[]): string[] => [...prev, v]

export function register (program: Command): void {
  program.command('init')
    .description('create config.yaml, identity.key, authorized_keys and names.yaml')
    .requiredOption('--role <role>', 'relay | home | client')
    .option('--network <name>', 'network name (DNS label)')
    .option('--name <host>', 'this node\'s host name (DNS label)')
    .option('--relay <multiaddr>', 'relay multiaddr ending in /p2p/<id> (repeatable)', collect, [])
    .option('--listen <multiaddr>', 'listen multiaddr (repeatable)', collect, [])
    .option('--force', 'overwrite existing files')
    .action(async (opts, cmd) => {
      const role = opts.role as string
      const { initConfigDir, peerupHome, relayAddressProblem, UsageError } = await files()
      if (!['relay', 'home', 'client'].includes(role)) {
        throw new UsageError(`--role must be relay, home or client (got "${role}")`)
      }
      // before any file is written: a relay address without its peer ID fails only later, and cryptically
      for (const r of opts.relay as string[]) {
        const problem = relayAddressProblem(r)
        if (problem != null) throw new UsageError(`--relay ${problem}`)
      }
      const cfg = cmd.optsWithGlobals().config as string | undefined
      const dir = cfg != null ? dirname(resolve(cfg)) : peerupHome()
      const res = await initConfigDir({
        dir,
        configName: cfg != null ? basename(cfg) : undefined,
        role: role as 'relay' | 'home' | 'client',
        network: opts.network,
        name: opts.name,
        relays: opts.relay,
        listen: opts.listen.length > 0 ? opts.listen : undefined,
        force: opts.force === true
      })
      out(res.peerId)
      if (role === 'home' && opts.relay.length === 0) {
        info(`warning: no --relay: nothing outside this machine's network can reach this home node. Add the relay's address (as \`peerup relay serve\` prints it, ending in /p2p/<relay-id>) under relays: in ${res.configFile}`)
      }
      info(`wrote ${res.configFile}, ${res.keyFile} (0600), ${res.authorizedKeysFile} (0600)${role !== 'relay' ? `, ${res.namesFile}` : ''}`)
      info('next steps:')
      if (role === 'relay') {
        info('  peerup auth add <member-peer-id> --comment "alice laptop"   # allow members')
        info('  peerup relay serve                                         # prints the relay multiaddrs to give members')
      } else if (role === 'home') {
        info('  peerup service add ssh 127.0.0.1:22')
        info('  peerup auth add <laptop-peer-id> --comment "my laptop"')
        info('  peerup daemon                     # or config/peerup.service')
      } else {
        // the home registers <host>.<network> with the relay: no names file needed in a network
        const home = opts.network != null ? `<home-host>.${String(opts.network)}` : 'home'
        info('  peerup auth add <home-peer-id> --comment "home"')
        if (opts.network == null) info('  peerup names add home <home-peer-id>')
        info('  peerup daemon                          # keep it running (config/peerup-user.service): fast ssh, direct paths')
        info(`  peerup service list --peer ${home}  # what the home lets you use`)
        info(`  peerup ssh-config >> ~/.ssh/config     # then: ssh you@${home}${opts.network != null ? '' : '.p2p'}`)
      }
    })
}
