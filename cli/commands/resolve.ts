import { askDaemon } from '../ask-daemon.js'
import { files, lib } from '../lib.js'
import { info, out } from '../run.js'
import { proxyWord, sshConfigBlock, sshHasKnownHostsCommand } from '../ssh-config.js'
import type { ChainResult } from '../../src/index.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  program.command('resolve <name>')
    .description('resolve a name: names file, then the network\'s relay, then the private DHT (current addresses of a known peer ID), then a literal peer ID; shows the tier that answered')
    .option('--json', 'JSON output: {name, peerId, source, via, cached, addrs, tried, droppedAddrs}')
    .option('--no-daemon', 'resolve in a node of this process even when a daemon runs for this config')
    .action(async (name: string, opts, cmd) => {
      // ms: the resolve alone (the daemon's round trip, or after this process's node started)
      let started = performance.now()
      const asked = opts.daemon !== false ? await askDaemon(cmd, async (client) => await client.resolve(name)) : undefined
      let r: ChainResult
      if (asked != null) r = asked.value
      else {
        const { createPeerupNode, loadConfig } = await lib()
        const cfg = loadConfig(cmd.optsWithGlobals().config)
        const node = await createPeerupNode({ config: cfg, listen: [], serve: false })
        await node.start()
        started = performance.now()
        try {
          r = await node.resolve(name)
        } finally {
          await node.stop({ graceMs: 0 }).catch(() => {})
        }
      }
      const ms = performance.now() - started
      if (opts.json === true) {
        out(JSON.stringify({ name, peerId: r.peerId, source: r.source, via: r.via, cached: r.cached === true, addrs: r.addrs, tried: r.tried, droppedAddrs: r.droppedAddrs ?? [], ms: Math.round(ms * 10) / 10 }))
      } else {
        out(`${name}  ${r.peerId}  (${r.source}: ${r.via}${r.cached === true ? ', cached' : ''})`)
        for (const a of r.addrs) out(`  ${a}`)
        const dropped = r.droppedAddrs?.length ?? 0
        if (dropped > 0) info(`resolve: left out ${dropped} loopback address${dropped === 1 ? '' : 'es'} of ${name}: it is not on this host`)
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
