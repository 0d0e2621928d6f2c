import { askDaemon } from '../ask-daemon.js'
import { control, lib } from '../lib.js'
import { rateLimited } from '../rate-limit.js'
import { EXIT, info, out } from '../run.js'
import type { PathEvent, PathPreference, PeerupNode } from '../../src/index.js'
import type { PingReport, PingReportReply } from '../../src/daemon/index.js'
import type { Command } from 'commander'

async function pathOpt (v: string | undefined): Promise<PathPreference> {
  const { UsageError } = await control()
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

/** A daemon's path class in the words of `describePath` (`direct`, `direct-udp`, `relayed via <relay>`). */
const pathWords = (c: { class: string, relay?: string | null }): string => c.class === 'relayed' ? `relayed via ${c.relay ?? 'relay'}` : c.class === 'direct-udp' ? 'direct-udp' : 'direct'

/**
 * The same words as an in-process tunnel for a reset, then exit 1; exit 0
 * when clean. `why`, the remote's reason for a reset before any data (the
 * service is not ours to use), is thrown instead, for its own exit code.
 */
function exitAfterTunnel (target: string, service: string, stats: { clean: boolean, bytesFromStream: number, error?: Error }, why?: Error): never {
  if (why != null) throw why
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
  const asked = await askDaemon(cmd, async (client) => await client.openTunnel(target, service, { path }))
  if (asked == null) return false
  const tunnel = asked.value
  const { tunnelStdio } = await control()
  if (process.env.PEERUP_VERBOSE != null) info(`nc: ${target} (${tunnel.peerId}) ${service} ${pathWords(tunnel)} (daemon)`)
  exitAfterTunnel(target, service, await tunnelStdio(tunnel, process.stdin, process.stdout))
}

/**
 * `peerup proxy` through the daemon of this config, when one runs: each
 * connection is a daemon tunnel, so it takes the daemon's direct paths and
 * shows in its status. Returns false only when no daemon answers.
 */
async function proxyViaDaemon (cmd: Command, target: string, service: string, port: number, bind: string, path: PathPreference): Promise<boolean> {
  // fail fast (exit 4) when the target or path cannot be reached at all
  const asked = await askDaemon(cmd, async (client, socketPath) => ({ first: await client.connect(target, { path }), socketPath }))
  if (asked == null) return false
  const { first, socketPath } = asked.value
  const { createDaemonProxy } = await control()
  // one line per refusal, at most every 10 s (with a count of the ones in between)
  let lastReport = 0
  let unreported = 0
  const proxy = await createDaemonProxy({
    socketPath,
    target,
    service,
    port,
    bind,
    path,
    onRefused: (err) => {
      if (Date.now() - lastReport < 10_000) { unreported++; return }
      info(`peerup: proxy: tunnel to ${target} ${service} refused: ${err.message}${unreported > 0 ? ` (+${unreported} more since the last report)` : ''}`)
      lastReport = Date.now()
      unreported = 0
    }
  })
  out(`proxy ${bind}:${proxy.port} -> ${target} ${service} (${pathWords(first)}, daemon)`)
  out('ready')
  const stop = (): void => { void proxy.close().finally(() => process.exit(0)) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  return true
}

/** The end of `peerup ping`, the same whether the daemon or this process pinged: the UDP diagnosis or the JSON, and the exit code. */
function printPingEnd (target: string, report: PingReport, json: boolean, untilDirect: boolean): never {
  const { replies, udp } = report
  const last = replies[replies.length - 1]
  if (!json && last?.path.class === 'relayed' && udp.reason != null) info(`no direct UDP path to ${target}: ${udp.reason}`)
  if (json && last != null) {
    out(JSON.stringify({
      target,
      peerId: last.peerId,
      path: last.path.path,
      class: last.path.class,
      relay: last.path.relay ?? null,
      rtts: replies.map(r => Math.round(r.rtt * 1000) / 1000),
      paths: replies.map(r => r.path.path),
      classes: replies.map(r => r.path.class),
      directAfterMs: report.directAfterMs,
      udp
    }))
  }
  if (untilDirect && last?.path.path !== 'direct') {
    info(`peerup: no direct path to ${target} after ${replies.length} pings (still ${last != null ? last.description : 'unknown'})`)
    process.exit(EXIT.RUNTIME)
  }
  process.exit(EXIT.OK)
}

export function register (program: Command): void {
  program.command('nc <target> <service>')
    .description('connect stdin/stdout to a remote service (ssh ProxyCommand)')
    .option('--path <path>', 'auto | direct | relay', 'auto')
    .option('--no-daemon', 'dial in this process even when a daemon runs for this config')
    .action(async (target: string, service: string, opts, cmd) => {
      const path = await pathOpt(opts.path)
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
      // a reset before any data: ask the remote why while the connection is still up
      const why = !stats.clean && stats.bytesFromStream === 0 ? await node.explainReset(target, service, { path }) : undefined
      await node.stop({ graceMs: 0 }).catch(() => {})
      exitAfterTunnel(target, service, stats, why)
    })

  program.command('proxy <target> <service> <local-port>')
    .description('listen on a local TCP port and forward each connection to the service')
    .option('--bind <addr>', 'local address to bind', '127.0.0.1')
    .option('--path <path>', 'auto | direct | relay', 'auto')
    .option('--no-daemon', 'dial in this process even when a daemon runs for this config')
    .action(async (target: string, service: string, port: string, opts, cmd) => {
      const path = await pathOpt(opts.path)
      const { UsageError } = await control()
      const p = Number(port)
      if (!Number.isInteger(p) || p < 0 || p > 65535) throw new UsageError(`invalid local port "${port}"`)
      if (opts.daemon !== false && await proxyViaDaemon(cmd, target, service, p, opts.bind, path)) return
      const { constants, describeLimits, describePath } = await lib()
      const report = rateLimited(info, constants.REFUSAL_REPORT_INTERVAL)
      const node = await clientNode(cmd, (e) => {
        info(e.class === 'direct-udp'
          ? `path to ${target}: direct-udp${e.afterMs != null ? ` (${e.afterMs} ms after first relayed contact)` : ''}${e.reason != null ? ` (${e.reason})` : ''}`
          : `path to ${target}: relayed (direct UDP lost: ${e.reason ?? 'unknown'}); new tunnels use the relay`)
      })
      // fail fast (exit 4) when the target or path cannot be reached at all
      const first = await node.connect(target, { path })
      // one line per refused or failed tunnel (at most one per 10 s, with a count), so a refusal is never silent
      const onError = (err: Error): void => {
        report(`${target} ${service}`, `proxy: tunnel to ${target} ${service} ${err.name === 'NotAuthorizedError' ? 'refused' : 'failed'}: ${err.message}`)
      }
      const proxy = await node.proxy(target, service, p, { bind: opts.bind, path, onError })
      out(`proxy ${opts.bind}:${proxy.port} -> ${target} ${service} (${describePath(first.path)})`)
      const limited = describeLimits(first.path)
      if (limited != null) info(`peerup: ${limited}`)
      out('ready')
      // stop accepting; tunnels still open get the usual grace, then the node stops (and resets them)
      const stop = (): void => {
        const grace = new Promise(resolve => setTimeout(resolve, constants.SHUTDOWN_GRACE).unref())
        void Promise.race([proxy.close(), grace]).finally(() => { node.stop({ graceMs: 0 }).finally(() => process.exit(0)) })
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
    .option('--no-daemon', 'ping from a node in this process even when a daemon runs for this config')
    .option('--json', 'JSON output: {target, peerId, path, class, relay, rtts: [ms], paths: [...], classes: [...], directAfterMs, udp: {available, reason, stun, stunCheck: [{server, address, ok, mapped, from, rttMs, problem}]}}')
    .action(async (target: string, opts, cmd) => {
      const path = await pathOpt(opts.path)
      const { UsageError } = await control()
      const count = Number(opts.count)
      const interval = Number(opts.interval)
      if (!Number.isInteger(count) || count < 1) throw new UsageError(`-c must be a positive integer (got "${opts.count}")`)
      if (!Number.isFinite(interval) || interval < 0) throw new UsageError(`--interval must be a number of ms ≥ 0 (got "${opts.interval}")`)
      const untilDirect = opts.untilDirect === true
      const onReply = (r: PingReportReply): void => {
        if (opts.json !== true) out(`reply from ${target} (${r.peerId}): time=${r.rtt.toFixed(2)} ms path=${r.description}`)
      }
      const asked = opts.daemon !== false ? await askDaemon(cmd, async (client) => await client.ping(target, { path, count, interval, untilDirect, onReply })) : undefined
      let report: PingReport
      if (asked != null) report = asked.value
      else {
        const { pingReport } = await lib()
        const node = await clientNode(cmd)
        report = await pingReport(node, target, { path, count, interval, untilDirect, onReply })
        await node.stop({ graceMs: 0 }).catch(() => {})
      }
      printPingEnd(target, report, opts.json === true, untilDirect)
    })
}
