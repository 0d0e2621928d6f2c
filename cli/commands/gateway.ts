import { askDaemon } from '../ask-daemon.js'
import { files } from '../lib.js'
import { runDaemon } from './daemon.js'
import type { Command } from 'commander'

interface GatewayFlags { socks?: string, dns?: string, tun?: boolean }

/** The `gateway:` section that makes `peerup daemon` run what these flags ask for (flow YAML, for one line). */
function sectionFor (o: GatewayFlags, defaults: { socks: string, dns: string }): string {
  const some = o.socks != null || o.dns != null || o.tun === true
  const parts: string[] = []
  if (!some || o.socks != null) parts.push(`socks: {listen: ${o.socks ?? defaults.socks}}`)
  if (!some || o.dns != null) parts.push(`dns: {listen: ${o.dns ?? defaults.dns}}`)
  if (o.tun === true) parts.push('tun: {}')
  return `gateway: {${parts.join(', ')}}`
}

/**
 * One config runs one node, and a running daemon holds it: refuse before
 * anything starts, and say both ways out (exit 2, ControlSocketError).
 */
async function refuseBesideDaemon (cmd: Command, o: GatewayFlags): Promise<void> {
  // no answer (no socket, or a stale one that the daemon start replaces): nothing to refuse
  const asked = await askDaemon(cmd, async (client) => await client.status())
  if (asked == null) return
  const status = asked.value
  const { constants, ControlSocketError, findConfigFile } = await files()
  const file = findConfigFile(cmd.optsWithGlobals().config)
  const g = status.gateways
  const running = [g.socks != null ? `socks5 ${g.socks}` : null, g.dns != null ? `dns ${g.dns}` : null, g.tun != null ? `tun ${g.tun}` : null].filter(x => x != null)
  throw new ControlSocketError(`a peerup daemon (pid ${status.pid}) already runs for ${file}${running.length > 0 ? ` with gateways ${running.join(', ')}` : ' with no gateways'}, and "peerup gateway" would be a second node for the same config. ` +
    `Either stop that daemon and run "peerup gateway" again, or add "${sectionFor(o, { socks: constants.SOCKS_LISTEN, dns: constants.DNS_LISTEN })}" to ${file} and restart the daemon: "peerup daemon" runs the gateways of that section (docs/GATEWAYS.md)`)
}

export function register (program: Command): void {
  program.command('gateway')
    .description('run this node like "peerup daemon", plus the SOCKS5 and DNS gateways (both when no flag is given) and TUN mode (--tun); refused (exit 2) while a daemon runs for this config: stop it, or put a gateway: section in the config, which "peerup daemon" runs')
    .option('--socks <addr>', 'SOCKS5 listen address, host:port (config gateway.socks.listen, default 127.0.0.1:1080)')
    .option('--dns <addr>', 'DNS listen address (UDP and TCP), host:port (config gateway.dns.listen, default 127.0.0.1:5353)')
    .option('--tun', 'TUN mode: interface peer0 with this node\'s 10.64.x.y address, IP to every allowed peer (Linux, root or CAP_NET_ADMIN; config gateway.tun)')
    .action(async (opts, cmd) => {
      // a bad flag is a usage error before anything starts
      const { parseHostPort } = await files()
      for (const addr of [opts.socks, opts.dns]) if (addr != null) parseHostPort(addr)
      await refuseBesideDaemon(cmd, opts)
      const some = opts.socks != null || opts.dns != null || opts.tun === true
      await runDaemon(cmd, {
        socks: some ? (opts.socks ?? false) : true,
        dns: some ? (opts.dns ?? false) : true,
        tun: opts.tun === true ? true : undefined
      })
    })
}
