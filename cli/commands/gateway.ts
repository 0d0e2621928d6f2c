import { lib } from '../lib.js'
import { runDaemon } from './daemon.js'
import type { Command } from 'commander'

export function register (program: Command): void {
  program.command('gateway')
    .description('run this node like "peerup daemon", plus the SOCKS5 and DNS gateways (both when no flag is given) and TUN mode (--tun)')
    .option('--socks <addr>', 'SOCKS5 listen address, host:port (config gateway.socks.listen, default 127.0.0.1:1080)')
    .option('--dns <addr>', 'DNS listen address (UDP and TCP), host:port (config gateway.dns.listen, default 127.0.0.1:5353)')
    .option('--tun', 'TUN mode: interface peer0 with this node\'s 10.64.x.y address, IP to every allowed peer (Linux, root or CAP_NET_ADMIN; config gateway.tun)')
    .action(async (opts, cmd) => {
      // a bad flag is a usage error before anything starts
      const { parseHostPort } = await lib()
      for (const addr of [opts.socks, opts.dns]) if (addr != null) parseHostPort(addr)
      const some = opts.socks != null || opts.dns != null || opts.tun === true
      await runDaemon(cmd, {
        socks: some ? (opts.socks ?? false) : true,
        dns: some ? (opts.dns ?? false) : true,
        tun: opts.tun === true ? true : undefined
      })
    })
}
