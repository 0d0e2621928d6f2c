import { files, lib } from '../lib.js'
import { info, out } from '../run.js'
import { proxyWord, sshConfigBlock, sshHasKnownHostsCommand } from '../ssh-config.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  program.command('resolve <name>')
    .description('resolve a name: names file, then the network\'s relay, then the private DHT (current addresses of a known peer ID), then a literal peer ID; shows the tier that answered')
    .option('--json', 'JSON output: {name, peerId, source, via, cached, addrs, tried, droppedAddrs}')
    .action(async (name: string, opts, cmd) => {
      const { createPeerupNode, loadConfig } = await lib()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      const node = await createPeerupNode({ config: cfg, listen: [], serve: false })
      await node.start()
      const started = performance.now()
      try {
        const r = await node.resolve(name)
        const ms = performance.now() - started
        if (opts.json === true) {
          out(JSON.stringify({ name, peerId: r.peerId, source: r.source, via: r.via, cached: r.cached === true, addrs: r.addrs, tried: r.tried, droppedAddrs: r.droppedAddrs ?? [], ms: Math.round(ms * 10) / 10 }))
        } else {
          out(`${name}  ${r.peerId}  (${r.source}: ${r.via}${r.cached === true ? ', cached' : ''})`)
          for (const a of r.addrs) out(`  ${a}`)
          const dropped = r.droppedAddrs?.length ?? 0
          if (dropped > 0) info(`resolve: left out ${dropped} loopback address${dropped === 1 ? '' : 'es'} of ${name}: it is not on this host`)
        }
      } finally {
        await node.stop({ graceMs: 0 }).catch(() => {})
      }
    })

  program.command('ssh-config')
    .description('print a ~/.ssh/config block that reaches *.<network> through peerup')
    .option('--network <name>', 'network (default: this node\'s)')
    .action(async (opts, cmd) => {
      const { loadConfig } = await files()
      const cfg = loadConfig(cmd.optsWithGlobals().config)
      const network = opts.network ?? cfg.config.network.name
      const self = process.argv[1]
      const peerup = self.endsWith('peerup.js') ? `${proxyWord(process.execPath)} ${proxyWord(self)}` : 'peerup'
      // always the absolute config path: ssh runs the ProxyCommand from any directory, maybe without $PEERUP_HOME
      for (const line of sshConfigBlock({ network, peerup, configFile: cfg.file, knownHostsCommand: sshHasKnownHostsCommand() })) out(line)
    })
}
