/**
 * `npm run bench [-- --quick]`: peerup against raw TCP, OpenSSH `ssh -L` and
 * socat, all on 127.0.0.1 in one process tree, with real CLI processes.
 *
 * Writes bench/results/<date>-<quick|full>.json and regenerates
 * docs/PERFORMANCE.md and docs/performance.svg. Targets are printed as
 * pass/miss marks; the bench itself fails only when something breaks.
 *
 * Options: --quick, --runs N, --size MiB, --tunnels N, --no-write (no
 * results/docs), --profile DIR (CPU profiles of relay/home/proxies), and for
 * partial runs that write nothing: --paths raw,ssh,direct,… and
 * --skip latency,cold,scale,dns,udp,tun,relay; --only relay runs just the relay
 * section (bench/relay.ts).
 */
import '../src/polyfill.js'
import { rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Harness, type Proc } from '../test/fixtures/mesh.js'
import { killAll, killAllSync } from './procs.js'
import { memMiB, trackedMem, type Mem } from './procstat.js'
import { measureDns } from './dns.js'
import { measureColdStarts, measureNewTunnel } from './latency.js'
import { relaySummaryLines, runRelayBench } from './relay.js'
import { cpuPressure, git, machine, sleep, type BenchOptions, type BenchResult, type PathInfo } from './result.js'
import { measureScale } from './scale.js'
import { pid, setupBench } from './setup.js'
import { summaryLines, targets, writeOutputs } from './summary.js'
import { measureThroughput } from './throughput.js'
import { benchTun } from './tun.js'
import { benchUdp, udpTarget } from './udp.js'
import { round } from './stats.js'
import { runControlBench } from './control.js'

export { ROOT, type BenchOptions, type BenchResult, type Direction, type DirResult, type PathInfo, type Target } from './result.js'
export { summaryLines, targets, writeOutputs } from './summary.js'

/** RSS (and peak) of every reported process, MiB. */
function memory (memOf: Record<string, { role: string, pid: number }>): { rss: Record<string, number>, peak: Record<string, number> } {
  const rss: Record<string, number> = {}
  const peak: Record<string, number> = {}
  for (const [name, t] of Object.entries(memOf)) {
    const m: Mem = trackedMem(t)
    rss[name] = round(m.rss, 1)
    peak[name] = round(m.hwm, 1)
  }
  return { rss, peak }
}

/** Run the whole benchmark; always stops every process it started. */
export async function runBench (options: BenchOptions): Promise<BenchResult> {
  const log = options.log ?? ((s: string) => { process.stdout.write(s + '\n') })
  const quick = options.quick
  const sizeMiB = options.sizeMiB ?? (quick ? 32 : 256)
  const runs = options.runs ?? (quick ? 3 : 5)
  const tunnels = options.tunnels ?? (quick ? 200 : 1000)
  const tunnelBytes = 64 * 1024
  const warmupMiB = Math.min(8, sizeMiB)
  const latencyN = quick ? 50 : 300
  const coldRuns = quick ? 5 : 10
  const started = performance.now()
  const phases: Record<string, number> = {}
  let phaseStart = started
  const phase = (name: string): void => {
    const now = performance.now()
    phases[name] = round((now - phaseStart) / 1000, 1)
    phaseStart = now
  }

  const h = new Harness()
  const exitHandler = (): void => {
    killAllSync()
    for (const p of (h as any).procs as Set<Proc>) p.kill('SIGKILL')
    try { rmSync(h.root, { recursive: true, force: true }) } catch {}
  }
  process.on('exit', exitHandler)

  const result: Partial<BenchResult> & { paths: PathInfo[] } = {
    version: 1,
    mode: quick ? 'quick' : 'full',
    date: new Date().toISOString(),
    git: { commit: git(['rev-parse', 'HEAD']) || 'unknown', dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '' },
    machine: machine(),
    node: process.version,
    openssh: null,
    sshDefaultCipher: null,
    socat: null,
    params: { transferMiB: sizeMiB, runs, warmupMiB, latencyN, coldRuns, tunnels, tunnelBytes },
    paths: []
  }

  try {
    log(`peerup bench (${result.mode}): ${sizeMiB} MiB × ${runs} runs per path and direction, ${tunnels} parallel tunnels`)
    const setup = await setupBench(h, options, result, log)
    const { paths, memOf, mesh, gateway } = setup
    result.paths = paths
    const live = paths.filter(p => p.available && (options.paths == null || options.paths.includes(p.id))).map(p => p.id)
    const skip = new Set(options.skip ?? [])
    phase('setup')

    await sleep(2000)
    const idle = memory(memOf).rss
    log(`idle RSS MiB: ${Object.entries(idle).map(([k, v]) => `${k} ${v}`).join(', ')}`)

    result.throughput = await measureThroughput(setup, { live, runs, sizeMiB, warmupMiB, log })
    phase('throughput')
    const newTunnel = await measureNewTunnel(setup, { live, latencyN, skip: skip.has('latency'), log })
    phase('latency')
    const coldStart = await measureColdStarts(setup, { quick, coldRuns, skip: skip.has('cold'), log })
    result.latency = { newTunnel, coldStart }
    phase('cold start')
    if (!skip.has('control')) result.control = await runControlBench({ servicePort: setup.servicePort, sshd: setup.sshd, runs: quick ? 3 : Math.max(10, coldRuns), quick, log })
    phase('control')
    result.scale = await measureScale(setup, { live, tunnels, tunnelBytes, quick, skip: skip.has('scale'), log })
    const relayAfterTransfers = round(memMiB(pid(mesh.relayProc)).rss, 1)
    phase('scale')
    if (!skip.has('dns')) {
      try {
        result.dns = await measureDns({ h, gateway: { port: setup.dnsPort, pid: pid(gateway) }, name: 'home.grewal.p2p', seconds: quick ? 2 : 5, window: 32, log })
      } catch (err) {
        log(`dns: failed: ${(err as Error).message}`)
      }
    }
    phase('dns')

    await sleep(2000)
    const { rss: end, peak } = memory(memOf)
    result.memory = { idle, relayAfterTransfers, end, peak }
    phase('memory')
    if (!skip.has('relay')) { result.relay = await runRelayBench({ quick, log }); phase('relay') }

    result.targets = targets(result as BenchResult)
    result.machine!.loadavgEnd = loadavg().map(x => round(x, 2))
    result.machine!.cpuPressureEnd = cpuPressure()
  } finally {
    // graceful stop when profiling, so the profiles are written
    if (options.profileDir != null) {
      const procs = [...((h as any).procs as Set<Proc>)]
      for (const p of procs) p.kill('SIGTERM')
      await Promise.all(procs.map(async p => await Promise.race([p.exited, sleep(15_000)])))
      log(`CPU profiles in ${options.profileDir}`)
    }
    await killAll()
    await h.cleanup()
    process.off('exit', exitHandler)
  }
  phase('teardown')
  if (!(options.skip ?? []).includes('udp')) {
    result.udp = await benchUdp({ quick, log })
    result.targets?.push(udpTarget(result.udp))
    phase('udp')
  }
  if (!(options.skip ?? []).includes('tun')) {
    result.tun = await benchTun({ quick, log })
    phase('tun')
  }
  result.runtimeSeconds = round((performance.now() - started) / 1000, 1)
  result.phases = phases
  const full = result as BenchResult
  if (options.write !== false && options.paths == null && options.skip == null) writeOutputs(full, log)
  return full
}

function parseArgs (argv: string[]): BenchOptions {
  const o: BenchOptions = { quick: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const num = (): number => {
      const v = Number(argv[++i])
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${a} needs a positive number`)
      return v
    }
    if (a === '--quick') o.quick = true
    else if (a === '--no-write') o.write = false
    else if (a === '--runs') o.runs = num()
    else if (a === '--size') o.sizeMiB = num()
    else if (a === '--tunnels') o.tunnels = num()
    else if (a === '--profile') o.profileDir = argv[++i]
    else if (a === '--paths') o.paths = (argv[++i] ?? '').split(',')
    else if (a === '--skip') o.skip = (argv[++i] ?? '').split(',') as BenchOptions['skip']
    else if (a === '--only' && argv[i + 1] === 'relay') o.only = argv[++i] as 'relay'
    else throw new Error(`unknown option ${a} (known: --quick --runs N --size MiB --tunnels N --no-write --profile DIR --paths raw,ssh,ssh-aes,socat,direct,relay,socks --skip latency,cold,scale,dns,udp,tun,relay,control --only relay)`)
  }
  return o
}

/** Run with a hard deadline and signal handling; returns the exit code. */
export async function main (argv: string[], run: (o: BenchOptions) => Promise<BenchResult> = runBench): Promise<BenchResult | undefined> {
  const o = parseArgs(argv)
  const limitMs = (o.quick ? 4 : 20) * 60_000
  const deadline = setTimeout(() => {
    process.stderr.write(`bench: hard time limit of ${limitMs / 60_000} min reached, stopping\n`)
    killAllSync()
    process.exit(1)
  }, limitMs)
  const onSignal = (): void => { killAllSync(); process.exit(130) }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    if (o.only === 'relay') {
      for (const l of relaySummaryLines(await runRelayBench({ quick: o.quick }))) process.stdout.write(l + '\n')
      return undefined
    }
    return await run(o)
  } finally {
    clearTimeout(deadline)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const r = await main(process.argv.slice(2))
    if (r != null) for (const l of summaryLines(r)) process.stdout.write(l + '\n')
    process.exit(0)
  } catch (err) {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  }
}
