import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { controlSocketPath, createControlClient, findConfigFile, tunnelStdio, UsageError } from '../../src/control/index.js'
import { lib } from '../lib.js'
import { EXIT, info, out } from '../run.js'
import type { PathEvent, PathPreference, PeerupNode, PingReply } from '../../src/index.js'
import type { Command } from 'commander'

function pathOpt (v: string | undefined): PathPreference {
  const p = v ?? 'auto'
  if (p !== 'auto' && p !== 'direct' && p !== 'relay') throw new UsageError(`--path must be auto, direct or relay (got "${p}")`)
  return p
}

async function clientNode (cmd: Command, onPathChange?: (e: PathEvent) => void): Promise<PeerupNode> {
  const { createPeerupNode, loadConfig } = await lib()
  const cfg = loadConfig(cmd.optsWithGlobals().config)
  // a one-shot client needs no listener and exposes nothing
  const node = await createPeerupNode({ config: cfg, listen: [], serve: false, onPathChange })
  await node.start()
  return node
}

/** The same words as an in-process tunnel for a reset, then exit 1; exit 0 when clean. */
function exitAfterTunnel (target: string, service: string, stats: { clean: boolean, bytesFromStream: number, error?: Error }): never {
  if (!stats.clean) {
    const reason = stats.error?.message ?? 'unknown'
    // a per-service allow-list (or a dead local service) shows up as a reset before any byte comes back
    info(stats.bytesFromStream === 0
      ? `peerup: ${target} reset the ${service} tunnel before sending any data (${reason}): not authorized for this service, or the service is down`
      : `peerup: connection to ${target} ${service} reset: ${reason}`)
    process.exit(EXIT.RUNTIME)
  }
  process.exit(EXIT.OK)
}

/**
 * `peerup nc` through the daemon of this config, when one runs: no libp2p in
 * this process at all. Returns false (fall back to an in-process dial) only
 * when no daemon answers; the daemon's own errors keep their exit codes.
 */
async function ncViaDaemon (cmd: Command, target: string, service: string, path: PathPreference): Promise<boolean> {
  const socketPath = controlSocketPath(dirname(findConfigFile(cmd.optsWithGlobals().config)))
  if (!existsSync(socketPath)) return false
  let tunnel
  try {
    tunnel = await createControlClient({ socketPath }).openTunnel(target, service, { path })
  } catch (err: any) {
    if (err?.name === 'DaemonNotRunningError') return false
    throw err
  }
  if (process.env.PEERUP_VERBOSE != null) info(`nc: ${target} (${tunnel.peerId}) ${service} ${tunnel.path === 'direct' ? 'direct' : `relayed via ${tunnel.relay ?? 'relay'}`} (daemon)`)
  exitAfterTunnel(target, service, await tunnelStdio(tunnel, process.stdin, process.stdout))
}

export function register (program: Command): void {
  program.command('nc <target> <service>')
    .description('connect stdin/stdout to a remote service (ssh ProxyCommand)')
    .option('--path <path>', 'auto | direct | relay', 'auto')
    .option('--no-daemon', 'dial in this process even when a daemon runs for this config')
    .action(async (target: string, service: string, opts, cmd) => {
      const path = pathOpt(opts.path)
      if (opts.daemon !== false && await ncViaDaemon(cmd, target, service, path)) return
      const { describeLimits, describePath, spliceSocketStream } = await lib()
      const node = await clientNode(cmd)
      const opened = await node.openTunnel(target, service, { path })
      if (process.env.PEERUP_VERBOSE != null) info(`nc: ${target} (${opened.peerId}) ${service} ${describePath(opened.path)}`)
      const limited = describeLimits(opened.path)
      if (limited != null) info(`peerup: ${limited}`)
      const stats = await spliceSocketStream({
        input: process.stdin,
        output: process.stdout,
        reset: () => {}
      }, opened.stream, { connection: opened.connection, connections: () => node.libp2p.getConnections() })
      await Promise.resolve(node.libp2p.stop()).catch(() => {})
      exitAfterTunnel(target, service, stats)
    })

  program.command('proxy <target> <service> <local-port>')
    .description('listen on a local TCP port and forward each connection to the service')
    .option('--bind <addr>', 'local address to bind', '127.0.0.1')
    .option('--path <path>', 'auto | direct | relay', 'auto')
    .action(async (target: string, service: string, port: string, opts, cmd) => {
      const path = pathOpt(opts.path)
      const p = Number(port)
      if (!Number.isInteger(p) || p < 0 || p > 65535) throw new UsageError(`invalid local port "${port}"`)
      const { describeLimits, describePath } = await lib()
      const node = await clientNode(cmd, (e) => {
        info(e.class === 'direct-udp'
          ? `path to ${target}: direct-udp${e.afterMs != null ? ` (${e.afterMs} ms after first relayed contact)` : ''}${e.reason != null ? ` (${e.reason})` : ''}`
          : `path to ${target}: relayed (direct UDP lost: ${e.reason ?? 'unknown'}); new tunnels use the relay`)
      })
      // fail fast (exit 4) when the target or path cannot be reached at all
      const first = await node.connect(target, { path })
      const proxy = await node.proxy(target, service, p, { bind: opts.bind, path })
      out(`proxy ${opts.bind}:${proxy.port} -> ${target} ${service} (${describePath(first.path)})`)
      const limited = describeLimits(first.path)
      if (limited != null) info(`peerup: ${limited}`)
      out('ready')
      // stop accepting; tunnels still open get the usual grace, then the node stops (and resets them)
      const { constants } = await lib()
      const stop = (): void => {
        const grace = new Promise(resolve => setTimeout(resolve, constants.SHUTDOWN_GRACE).unref())
        void Promise.race([proxy.close(), grace]).finally(() => { Promise.resolve(node.libp2p.stop()).finally(() => process.exit(0)) })
      }
      process.on('SIGTERM', stop)
      process.on('SIGINT', stop)
    })

  program.command('ping <target>')
    .description('measure round-trip time and show the path')
    .option('-c, --count <n>', 'number of pings (with --until-direct: the most)', '3')
    .option('--until-direct', 'stop at the first reply over a direct connection; exit 1 if none came')
    .option('--path <path>', 'auto | direct | relay', 'auto')
    .option('--interval <ms>', 'pause between pings (ms)', '200')
    .option('--json', 'JSON output: {target, peerId, path, class, relay, rtts: [ms], paths: [...], classes: [...], directAfterMs, udp: {available, reason, stun}}')
    .action(async (target: string, opts, cmd) => {
      const path = pathOpt(opts.path)
      const count = Number(opts.count)
      const interval = Number(opts.interval)
      if (!Number.isInteger(count) || count < 1) throw new UsageError(`-c must be a positive integer (got "${opts.count}")`)
      if (!Number.isFinite(interval) || interval < 0) throw new UsageError(`--interval must be a number of ms ≥ 0 (got "${opts.interval}")`)
      const { describePath, pingSeries } = await lib()
      const node = await clientNode(cmd)
      const replies: PingReply[] = []
      const started = Date.now()
      let directAfterMs: number | undefined
      for await (const r of pingSeries(node, target, { path, count, interval, untilDirect: opts.untilDirect === true })) {
        replies.push(r)
        if (r.path.path === 'direct') directAfterMs ??= Date.now() - started
        if (opts.json !== true) out(`reply from ${target} (${r.peerId}): time=${r.rtt.toFixed(2)} ms path=${describePath(r.path)}`)
      }
      const last = replies[replies.length - 1]
      // say why there is no direct UDP path (addon missing, policy, hole punching failed)
      const udpState = last != null ? node.paths.state(last.peerId) : undefined
      const noUdp = node.paths.unavailable() ?? udpState?.lastError ?? (udpState?.state === 'trying' ? 'still trying' : undefined)
      if (opts.json !== true && last?.path.class === 'relayed' && noUdp != null) info(`no direct UDP path to ${target}: ${noUdp}`)
      if (opts.json === true && last != null) {
        out(JSON.stringify({
          target,
          peerId: last.peerId,
          path: last.path.path,
          class: last.path.class,
          relay: last.path.relay ?? null,
          rtts: replies.map(r => Math.round(r.rtt * 1000) / 1000),
          paths: replies.map(r => r.path.path),
          classes: replies.map(r => r.path.class),
          directAfterMs: directAfterMs ?? null,
          udp: { available: node.udp.available, reason: noUdp ?? null, stun: node.stunServers }
        }))
      }
      await Promise.resolve(node.libp2p.stop()).catch(() => {})
      if (opts.untilDirect === true && last?.path.path !== 'direct') {
        info(`peerup: no direct path to ${target} after ${replies.length} pings (still ${last != null ? describePath(last.path) : 'unknown'})`)
        process.exit(EXIT.RUNTIME)
      }
      process.exit(0)
    })
}
