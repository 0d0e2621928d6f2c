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
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, loadavg, release } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Harness, PEERUP, freePort, startMesh, type Proc } from '../test/fixtures/mesh.js'
import { addAuthorizedKey, editYamlFile } from '../src/index.js'
import { download, firstEcho, parallelEcho, upload, type Dest } from './client.js'
import { killAll, killAllSync } from './procs.js'
import { memMiB, trackedCpu, trackedMem, type Mem, type Tracked } from './procstat.js'
import { measureDns, type DnsResult } from './dns.js'
import { relaySummaryLines, relayTargets, runRelayBench, type RelayBenchResult } from './relay.js'
import { renderMarkdown, renderSvg } from './report.js'
import { coldFirstByte, startBenchServers } from './spawn.js'
import { benchTun, tunMarkdown, type TunBench } from './tun.js'
import { benchUdp, udpMarkdown, udpTarget, type UdpBench } from './udp.js'
import { startSocat, startSshForward, startSshd, sshAvailable, sshStdioArgs, which, type Sshd } from './ssh.js'
import { median, percentile, round, summarize, type LatencySummary } from './stats.js'
import { controlTargets, runControlBench, type ControlBenchResult } from './control.js'

const here = dirname(fileURLToPath(import.meta.url))
/** Project root (dist/bench/run.js → ../..). */
export const ROOT = resolve(here, '../..')
const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** Options of {@link runBench}. */
export interface BenchOptions {
  quick: boolean
  /** Write bench/results/*.json and regenerate docs. @default true */
  write?: boolean
  runs?: number
  sizeMiB?: number
  tunnels?: number
  /** Directory for CPU profiles of relay, home and proxies. */
  profileDir?: string
  /** Measure only these path ids (a partial run: nothing is written). */
  paths?: string[]
  /** Skip these sections (a partial run: nothing is written). */
  skip?: Array<'latency' | 'cold' | 'scale' | 'dns' | 'udp' | 'tun' | 'relay' | 'control'>
  /** Run only this section (nothing is written). */
  only?: 'relay'
  log?: (line: string) => void
}

export type Direction = 'up' | 'down'

/** One throughput direction of one path. */
export interface DirResult {
  /** MiB/s of each measured run, in run order. */
  runs: number[]
  median: number
  min: number
  max: number
  /** median / median of raw TCP. */
  ratioRaw: number | null
  /** median / median of `ssh -L` with the default cipher. */
  ratioSsh: number | null
  /** CPU seconds per GiB moved, per process role on the path (plus the client and server endpoints). */
  cpuPerGiB: Record<string, number>
  /** Sum over the path's own processes (endpoints excluded). */
  cpuPerGiBPath: number
  /** MiB moved per CPU-second of the path's own processes (1024 / cpuPerGiBPath); less sensitive to a busy machine than MiB/s. */
  mibPerCpuSecond: number | null
  /** Transfers that failed or stalled (warm-up included); not in `runs`. */
  failures: string[]
}

/** A benchmarked path. */
export interface PathInfo {
  id: string
  label: string
  /** Short label for the chart. */
  short?: string
  kind: 'anchor' | 'peerup'
  available: boolean
  note?: string
  /** Roles of the processes on the path. */
  roles: string[]
}

export interface Target {
  id: string
  label: string
  value: string
  pass: boolean | null
}

export interface BenchResult {
  version: 1
  mode: 'quick' | 'full'
  date: string
  runtimeSeconds: number
  /** Seconds spent per phase. */
  phases: Record<string, number>
  git: { commit: string, dirty: boolean }
  machine: {
    nproc: number
    cpuModel: string
    memTotalMiB: number
    kernel: string
    loadavgStart: number[]
    loadavgEnd: number[]
    /** /proc/pressure/cpu "some" avg60 (% of time something waited for a CPU), start and end; null where PSI is missing. */
    cpuPressureStart: number | null
    cpuPressureEnd: number | null
  }
  node: string
  openssh: string | null
  sshDefaultCipher: string | null
  socat: string | null
  params: { transferMiB: number, runs: number, warmupMiB: number, latencyN: number, coldRuns: number, tunnels: number, tunnelBytes: number }
  paths: PathInfo[]
  throughput: Record<string, Record<Direction, DirResult>>
  memory: {
    /** RSS after start-up and a short settle, before any traffic (MiB). */
    idle: Record<string, number>
    /** RSS of the relay right after the parallel-tunnel test (all transfers relayed). */
    relayAfterTransfers: number
    /** RSS at the end of the run after a short settle (MiB). */
    end: Record<string, number>
    /** Peak RSS (VmHWM) over the whole run (MiB). */
    peak: Record<string, number>
  }
  latency: {
    /** New connection through a running forwarder → first echoed byte (ms). */
    newTunnel: Record<string, LatencySummary>
    /** Cold process start → first stdout byte (ms). */
    coldStart: Record<string, LatencySummary>
  }
  scale: Record<string, { tunnels: number, bytesEach: number, intact: number, failed: number, p50: number, p99: number, wallMs: number, errors: string[] }>
  /** DNS gateway vs dnsmasq (absent when skipped). */
  dns?: DnsResult
  targets: Target[]
  /** Direct UDP in the NAT lab (bench/udp.ts). */
  udp?: UdpBench
  /** TUN mode in the NAT lab (bench/tun.ts). */
  tun?: TunBench
  /** The relay section (bench/relay.ts). */
  relay?: RelayBenchResult
  /** Control API and idle-memory levers (bench/control.ts). */
  control?: ControlBenchResult
}

function git (args: string[]): string {
  try { return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() } catch { return '' }
}

function machine (): BenchResult['machine'] {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  const meminfo = readFileSync('/proc/meminfo', 'utf8')
  return {
    nproc: availableParallelism(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memTotalMiB: Math.round(Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) / 1024),
    kernel: release(),
    loadavgStart: loadavg().map(x => round(x, 2)),
    loadavgEnd: [],
    cpuPressureStart: cpuPressure(),
    cpuPressureEnd: null
  }
}

/** CPU pressure (PSI "some" avg60, %), or null. */
export function cpuPressure (): number | null {
  try {
    const m = /^some avg10=\S+ avg60=(\S+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'))
    return m != null ? Number(m[1]) : null
  } catch {
    return null
  }
}

async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }


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
  const bytes = sizeMiB * MiB
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
    // ---------------------------------------------------------------- setup
    log(`peerup bench (${result.mode}): ${sizeMiB} MiB × ${runs} runs per path and direction, ${tunnels} parallel tunnels`)
    const { port: servicePort, child: servers } = await startBenchServers()

    if (options.profileDir != null) {
      mkdirSync(options.profileDir, { recursive: true })
      process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(here, 'cpu-profile.js')}`.trim()
      process.env.PEERUP_BENCH_PROFILE_DIR = resolve(options.profileDir)
    }
    const mesh = await startMesh(h, { services: { bench: servicePort } })
    // a member with no names file entries, for the resolve rows of the cold-start section
    const resolver = await h.initNode('resolver', 'client')
    addAuthorizedKey(join(mesh.relay.dir, 'authorized_keys'), resolver.peerId, { comment: 'resolver' })
    editYamlFile(resolver.config, doc => { doc.set('relays', doc.createNode([mesh.relayAddr])) })
    const proxyPorts = { direct: await freePort(), relay: await freePort() }
    const proxies: Record<'direct' | 'relay', Proc> = {
      direct: h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'bench', String(proxyPorts.direct), '--path', 'direct']),
      relay: h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'bench', String(proxyPorts.relay), '--path', 'relay'])
    }
    const pathDesc: Record<string, string> = {}
    for (const k of ['direct', 'relay'] as const) {
      const m = await proxies[k].waitFor(/proxy \S+ -> home.grewal bench \((.*)\)/, 30_000)
      await proxies[k].waitFor(/^ready$/m)
      pathDesc[k] = m[1]
    }
    if (options.profileDir != null) { delete process.env.NODE_OPTIONS; delete process.env.PEERUP_BENCH_PROFILE_DIR }
    if (!/^direct$/.test(pathDesc.direct)) throw new Error(`direct proxy is on "${pathDesc.direct}"`)
    if (!/^relayed/.test(pathDesc.relay)) throw new Error(`relay proxy is on "${pathDesc.relay}"`)
    log(`mesh up: relay pid ${mesh.relayProc.child.pid}, home pid ${mesh.homeProc.child.pid}, proxies direct :${proxyPorts.direct} (${pathDesc.direct}) relay :${proxyPorts.relay} (${pathDesc.relay})`)

    const pid = (p: Proc): number => p.child.pid ?? -1
    const ports: Record<string, Dest> = { raw: servicePort, direct: proxyPorts.direct, relay: proxyPorts.relay }
    const tracked: Record<string, Tracked[]> = {
      raw: [],
      direct: [{ role: 'proxy', pid: pid(proxies.direct) }, { role: 'home', pid: pid(mesh.homeProc) }],
      relay: [{ role: 'proxy', pid: pid(proxies.relay) }, { role: 'relay', pid: pid(mesh.relayProc) }, { role: 'home', pid: pid(mesh.homeProc) }]
    }
    // processes whose memory is reported: name → tracked
    const memOf: Record<string, Tracked> = {
      relay: { role: 'relay', pid: pid(mesh.relayProc) },
      home: { role: 'home', pid: pid(mesh.homeProc) },
      'proxy (direct)': { role: 'proxy', pid: pid(proxies.direct) },
      'proxy (relay)': { role: 'proxy', pid: pid(proxies.relay) },
      'bench servers': { role: 'server', pid: servers.pid }
    }

    const paths: PathInfo[] = [{ id: 'raw', label: 'raw TCP (node → node)', short: 'raw TCP', kind: 'anchor', available: true, roles: [] }]
    let sshd: Sshd | undefined
    if (sshAvailable()) {
      try {
        const dir = join(h.root, 'ssh')
        sshd = await startSshd(dir, await freePort())
        const sshdAes = await startSshd(dir, await freePort())
        result.openssh = sshd.version
        const def = await startSshForward(sshd, await freePort(), servicePort)
        const aes = await startSshForward(sshdAes, await freePort(), servicePort, 'aes128-gcm@openssh.com')
        result.sshDefaultCipher = def.cipher
        ports.ssh = def.localPort
        ports['ssh-aes'] = aes.localPort
        tracked.ssh = [{ role: 'ssh', pid: def.proc.pid }, { role: 'sshd', pid: sshd.proc.pid, tree: true }]
        tracked['ssh-aes'] = [{ role: 'ssh', pid: aes.proc.pid }, { role: 'sshd', pid: sshdAes.proc.pid, tree: true }]
        memOf['ssh (default)'] = { role: 'ssh', pid: def.proc.pid }
        memOf['sshd (default, all processes)'] = { role: 'sshd', pid: sshd.proc.pid, tree: true }
        memOf['ssh (aes128-gcm)'] = { role: 'ssh', pid: aes.proc.pid }
        memOf['sshd (aes128-gcm, all processes)'] = { role: 'sshd', pid: sshdAes.proc.pid, tree: true }
        paths.push({ id: 'ssh', label: `ssh -L (${def.cipher}, default)`, short: `ssh -L ${def.cipher.split('@')[0]} (default)`, kind: 'anchor', available: true, roles: ['ssh', 'sshd'] })
        paths.push({ id: 'ssh-aes', label: `ssh -L (${aes.cipher})`, short: `ssh -L ${aes.cipher.split('@')[0]}`, kind: 'anchor', available: true, roles: ['ssh', 'sshd'] })
        log(`ssh anchors: ${sshd.version}; default cipher ${def.cipher}, second ${aes.cipher}`)
      } catch (err) {
        log(`ssh anchors unavailable: ${(err as Error).message}`)
        paths.push({ id: 'ssh', label: 'ssh -L (default cipher)', kind: 'anchor', available: false, note: (err as Error).message.slice(0, 200), roles: [] })
      }
    } else {
      paths.push({ id: 'ssh', label: 'ssh -L (default cipher)', kind: 'anchor', available: false, note: 'sshd/ssh not installed (apt-get install openssh-server openssh-client)', roles: [] })
    }
    const socatPort = await freePort()
    const socat = await startSocat(socatPort, servicePort).catch(() => undefined)
    if (socat != null) {
      ports.socat = socatPort
      tracked.socat = [{ role: 'socat', pid: socat.pid, children: true }]
      memOf['socat (listener)'] = { role: 'socat', pid: socat.pid }
      const v = spawnSync(which('socat')!, ['-V'], { encoding: 'utf8' })
      result.socat = /socat version (\S+)/.exec(v.stdout ?? '')?.[1] ?? 'unknown'
      paths.push({ id: 'socat', label: 'socat TCP forwarder', short: 'socat', kind: 'anchor', available: true, roles: ['socat'] })
    } else {
      paths.push({ id: 'socat', label: 'socat TCP forwarder', kind: 'anchor', available: false, note: 'socat not installed', roles: [] })
    }
    paths.push({ id: 'direct', label: 'peerup direct (proxy --path direct)', short: 'peerup direct', kind: 'peerup', available: true, roles: ['proxy', 'home'] })
    paths.push({ id: 'relay', label: 'peerup relayed (proxy --path relay)', short: 'peerup relayed', kind: 'peerup', available: true, roles: ['proxy', 'relay', 'home'] })
    // the SOCKS5 gateway: the client app speaks SOCKS5 to `peerup gateway`, which picks the path itself (direct here)
    // one gateway process serves both the SOCKS5 path and the DNS section (one daemon per config: its control socket)
    const gateway = h.start(['--config', mesh.client.config, 'gateway', '--socks', '127.0.0.1:0', '--dns', '127.0.0.1:0'])
    const socksPort = Number((await gateway.waitFor(/^socks5 127\.0\.0\.1:(\d+)$/m, 30_000))[1])
    const dnsPort = Number((await gateway.waitFor(/^dns 127\.0\.0\.1:(\d+)$/m, 30_000))[1])
    ports.socks = { socks: socksPort, host: 'home.grewal', port: servicePort }
    tracked.socks = [{ role: 'gateway', pid: pid(gateway) }, { role: 'home', pid: pid(mesh.homeProc) }]
    memOf['gateway (SOCKS5)'] = { role: 'gateway', pid: pid(gateway) }
    paths.push({ id: 'socks', label: 'peerup SOCKS5 gateway (auto path: direct)', short: 'peerup SOCKS5', kind: 'peerup', available: true, roles: ['gateway', 'home'] })
    result.paths = paths
    const live = paths.filter(p => p.available && (options.paths == null || options.paths.includes(p.id))).map(p => p.id)
    const skip = new Set(options.skip ?? [])

    phase('setup')
    // ----------------------------------------------------------- idle memory
    await sleep(2000)
    const idle: Record<string, number> = {}
    for (const [name, t] of Object.entries(memOf)) idle[name] = round(trackedMem(t).rss, 1)
    log(`idle RSS MiB: ${Object.entries(idle).map(([k, v]) => `${k} ${v}`).join(', ')}`)

    // ------------------------------------------------------------ throughput
    const STALL_MS = 10_000
    const move = async (id: string, dir: Direction, n: number): Promise<number> => {
      const r = dir === 'up' ? await upload(ports[id], n, STALL_MS) : await download(ports[id], n, STALL_MS)
      return r.seconds
    }
    const failures: Record<string, string[]> = {}
    const failed = (id: string, dir: Direction, what: string, err: unknown): void => {
      const msg = `${what} ${dir}: ${(err as Error).message}`
      ;(failures[id] ??= []).push(msg)
      log(`  FAILED ${id} ${msg}`)
    }
    log(`warm-up: ${warmupMiB} MiB each way per path`)
    for (const id of live) {
      for (const dir of ['up', 'down'] as const) await move(id, dir, warmupMiB * MiB).catch(err => { failed(id, dir, 'warm-up', err) })
    }

    const tp: Record<string, Record<Direction, { mibs: number[], cpu: Record<string, number>, bytes: number }>> = {}
    for (const id of live) tp[id] = { up: { mibs: [], cpu: {}, bytes: 0 }, down: { mibs: [], cpu: {}, bytes: 0 } }
    const clientCpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
    const serverT: Tracked = { role: 'server', pid: servers.pid }
    for (let r = 0; r < runs; r++) {
      // round-robin, rotated each run so that drift and ordering effects hit every path alike
      const order = live.map((_, i) => live[(i + r) % live.length])
      const line: string[] = []
      for (const id of order) {
        for (const dir of (r % 2 === 0 ? ['up', 'down'] : ['down', 'up']) as Direction[]) {
          const procs = tracked[id] ?? []
          const before = procs.map(trackedCpu)
          const c0 = clientCpu()
          const s0 = trackedCpu(serverT)
          let secs: number
          try {
            secs = await move(id, dir, bytes)
          } catch (err) {
            failed(id, dir, `run ${r + 1}`, err)
            line.push(`${id} ${dir} FAILED`)
            continue
          }
          const after = procs.map(trackedCpu)
          const acc = tp[id][dir]
          acc.mibs.push(sizeMiB / secs)
          acc.bytes += bytes
          procs.forEach((p, i) => { acc.cpu[p.role] = (acc.cpu[p.role] ?? 0) + after[i] - before[i] })
          acc.cpu.client = (acc.cpu.client ?? 0) + clientCpu() - c0
          acc.cpu.server = (acc.cpu.server ?? 0) + trackedCpu(serverT) - s0
          line.push(`${id} ${dir} ${(sizeMiB / secs).toFixed(0)}`)
        }
      }
      log(`run ${r + 1}/${runs} MiB/s: ${line.join(', ')}`)
    }
    const throughput: BenchResult['throughput'] = {}
    for (const id of live) {
      throughput[id] = {} as any
      for (const dir of ['up', 'down'] as const) {
        const a = tp[id][dir]
        const m = median(a.mibs)
        const nz = (v: number): number => Number.isFinite(v) ? v : 0
        const cpuPerGiB: Record<string, number> = {}
        for (const [role, s] of Object.entries(a.cpu)) cpuPerGiB[role] = a.bytes > 0 ? round(s / (a.bytes / GiB), 2) : 0
        const pathRoles = (tracked[id] ?? []).map(t => t.role)
        throughput[id][dir] = {
          runs: a.mibs.map(x => round(x, 1)),
          median: round(nz(m), 1),
          min: round(nz(Math.min(...a.mibs)), 1),
          max: round(nz(Math.max(...a.mibs)), 1),
          failures: (failures[id] ?? []).filter(f => f.includes(` ${dir}: `)),
          mibPerCpuSecond: null,
          ratioRaw: null,
          ratioSsh: null,
          cpuPerGiB,
          cpuPerGiBPath: a.bytes > 0 ? round(pathRoles.reduce((s, role) => s + (a.cpu[role] ?? 0), 0) / (a.bytes / GiB), 2) : 0
        }
      }
    }
    for (const id of live) {
      for (const dir of ['up', 'down'] as const) {
        const d = throughput[id][dir]
        const base = (b: DirResult | undefined): number | null => b != null && b.median > 0 && d.median > 0 ? round(d.median / b.median, 3) : null
        d.mibPerCpuSecond = d.cpuPerGiBPath > 0 ? round(1024 / d.cpuPerGiBPath, 0) : null
        d.ratioRaw = base(throughput.raw?.[dir])
        d.ratioSsh = base(throughput.ssh?.[dir])
      }
    }
    result.throughput = throughput

    phase('throughput')
    // ------------------------------------------------ new tunnel, warm forwarder
    log(`latency: ${latencyN} × new connection → first echo byte per path`)
    const lat: Record<string, number[]> = {}
    for (const id of live) lat[id] = []
    const latErrors: Record<string, string[]> = {}
    const streak: Record<string, number> = {}
    for (let i = 0; i < (skip.has('latency') ? 0 : latencyN); i++) {
      for (const id of live) {
        if ((streak[id] ?? 0) >= 3) continue // gave up on this path
        try {
          lat[id].push(await firstEcho(ports[id], 5000))
          streak[id] = 0
        } catch (err) {
          streak[id] = (streak[id] ?? 0) + 1
          ;(latErrors[id] ??= []).push((err as Error).message)
          if (streak[id] === 3) log(`  latency: giving up on ${id} after 3 failures in a row: ${(err as Error).message}`)
        }
      }
    }
    const newTunnel: Record<string, LatencySummary> = {}
    if (!skip.has('latency')) for (const id of live) newTunnel[id] = summarize(lat[id], latErrors[id])

    phase('latency')
    // ------------------------------------------------------------ cold starts
    log(`cold start → first byte: ${coldRuns} runs each`)
    // the reference rows (what Node start-up and module loading alone cost) get fewer runs in --quick
    const refRuns = quick ? 2 : coldRuns
    const cold: Record<string, { cmd: string, args: string[], input?: string, runs: number, before?: () => void }> = {
      'node (empty script)': { cmd: process.execPath, args: ['-e', 'process.stdout.write("x")'], runs: refRuns },
      'peerup --version (module load)': { cmd: process.execPath, args: [PEERUP, '--version'], runs: refRuns },
      'peerup nc, direct': { cmd: process.execPath, args: [PEERUP, '--config', mesh.client.config, 'nc', 'home.grewal', 'bench', '--path', 'direct'], input: 'x', runs: coldRuns },
      'peerup nc, relayed': { cmd: process.execPath, args: [PEERUP, '--config', mesh.client.config, 'nc', 'home.grewal', 'bench', '--path', 'relay'], input: 'x', runs: coldRuns },
      'peerup nc --no-daemon, relayed': { cmd: process.execPath, args: [PEERUP, '--config', mesh.client.config, 'nc', 'home.grewal', 'bench', '--path', 'relay', '--no-daemon'], input: 'x', runs: coldRuns }
    }
    if (sshd != null) cold['ssh -W (default cipher)'] = { cmd: 'ssh', args: sshStdioArgs(sshd, servicePort), input: 'x', runs: refRuns }
    // name resolution by a node whose names file is empty: the relay's registry answers (cold: no cache file), then the cache
    const resolveCache = join(resolver.dir, '.cache', 'names.json')
    cold['peerup resolve, relay tier (no cache)'] = { cmd: process.execPath, args: [PEERUP, '--config', resolver.config, 'resolve', 'home.grewal'], runs: refRuns, before: () => { rmSync(resolveCache, { force: true }) } }
    cold['peerup resolve, cached'] = { cmd: process.execPath, args: [PEERUP, '--config', resolver.config, 'resolve', 'home.grewal'], runs: refRuns }
    const coldMs: Record<string, number[]> = {}
    for (const k of Object.keys(cold)) coldMs[k] = []
    const coldErrors: Record<string, string[]> = {}
    const coldStreak: Record<string, number> = {}
    for (let i = 0; i < (skip.has('cold') ? 0 : coldRuns); i++) {
      for (const [k, c] of Object.entries(cold)) {
        if (i >= c.runs || (coldStreak[k] ?? 0) >= 3) continue
        try {
          c.before?.()
          coldMs[k].push(await coldFirstByte(k, c.cmd, c.args, c.input, 10_000))
          coldStreak[k] = 0
        } catch (err) {
          coldStreak[k] = (coldStreak[k] ?? 0) + 1
          ;(coldErrors[k] ??= []).push((err as Error).message.slice(0, 300))
          log(`  cold start ${k} failed: ${(err as Error).message.slice(0, 300)}`)
        }
      }
    }
    const coldStart: Record<string, LatencySummary> = {}
    if (!skip.has('cold')) {
      for (const k of Object.keys(cold)) coldStart[k] = summarize(coldMs[k], coldErrors[k])
      log(`nc cold p50: direct ${coldStart['peerup nc, direct'].p50} ms, relayed ${coldStart['peerup nc, relayed'].p50} ms`)
    }
    result.latency = { newTunnel, coldStart }

    phase('cold start')
    if (!skip.has('control')) result.control = await runControlBench({ servicePort, sshd, runs: quick ? 3 : Math.max(10, coldRuns), quick, log })
    phase('control')
    // ------------------------------------------------------------------ scale
    const scale: BenchResult['scale'] = {}
    const scaleIds = skip.has('scale') ? [] : ['raw', ...(ports.ssh != null ? ['ssh'] : []), 'direct', 'relay'].filter(id => live.includes(id))
    for (const id of scaleIds) {
      log(`scale: ${tunnels} parallel tunnels × ${tunnelBytes / 1024} KiB echo via ${id}`)
      const r = await parallelEcho(ports[id], tunnels, tunnelBytes, quick ? 30_000 : 120_000)
      scale[id] = {
        tunnels: r.tunnels,
        bytesEach: tunnelBytes,
        intact: r.intact,
        failed: r.failed,
        p50: round(percentile(r.completions, 50), 1),
        p99: round(percentile(r.completions, 99), 1),
        wallMs: round(r.wallMs, 0),
        errors: r.errors
      }
      if (r.failed > 0) log(`  ${r.failed} failed, e.g. ${r.errors.slice(0, 3).join('; ')}`)
    }
    result.scale = scale
    const relayAfterTransfers = round(memMiB(pid(mesh.relayProc)).rss, 1)

    phase('scale')
    // -------------------------------------------------------------------- DNS
    if (!skip.has('dns')) {
      try {
        result.dns = await measureDns({ h, gateway: { port: dnsPort, pid: pid(gateway) }, name: 'home.grewal.p2p', seconds: quick ? 2 : 5, window: 32, log })
      } catch (err) {
        log(`dns: failed: ${(err as Error).message}`)
      }
    }

    phase('dns')
    // ------------------------------------------------------------- end memory
    await sleep(2000)
    const end: Record<string, number> = {}
    const peak: Record<string, number> = {}
    for (const [name, t] of Object.entries(memOf)) {
      const m: Mem = trackedMem(t)
      end[name] = round(m.rss, 1)
      peak[name] = round(m.hwm, 1)
    }
    result.memory = { idle, relayAfterTransfers, end, peak }
    phase('memory')
    if (!skip.has('relay')) { result.relay = await runRelayBench({ quick, log }); phase('relay') }

    // ---------------------------------------------------------------- targets
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

/** Pass/miss marks for the project targets. */
export function targets (r: BenchResult): Target[] {
  const t: Target[] = []
  const fmt = (x: number | null | undefined): string => x == null ? 'n/a' : `${x.toFixed(2)}×`
  const ratioTarget = (id: string, label: string, min: number): void => {
    const up = r.throughput[id]?.up?.ratioSsh
    const down = r.throughput[id]?.down?.ratioSsh
    const pass = up == null || down == null ? null : up >= min && down >= min
    t.push({ id: `${id}-vs-ssh`, label, value: `up ${fmt(up)}, down ${fmt(down)}`, pass })
  }
  ratioTarget('direct', `direct ≥ 1.4× ssh -L (${r.sshDefaultCipher ?? 'default cipher'})`, 1.4)
  ratioTarget('relay', 'relayed ≥ 0.6× ssh -L (default cipher)', 0.6)
  const nc = r.latency.coldStart['peerup nc, relayed']
  t.push({
    id: 'nc-cold-relay',
    label: 'peerup nc cold start → first byte via relay ≤ 250 ms (p50)',
    value: nc == null ? 'not measured' : nc.n === 0 ? `all ${nc.failed} runs failed` : `p50 ${nc.p50} ms, p99 ${nc.p99} ms${nc.failed > 0 ? `, ${nc.failed} failed` : ''}`,
    pass: nc == null ? null : nc.n > 0 && nc.failed === 0 && nc.p50 <= 250
  })
  t.push({ id: 'relay-rss', label: 'relay RSS after relaying everything ≤ 200 MiB', value: `${r.memory.relayAfterTransfers} MiB (peak ${r.memory.peak.relay} MiB)`, pass: r.memory.relayAfterTransfers <= 200 })
  const idleNodes = ['relay', 'home', 'proxy (direct)', 'proxy (relay)'].map(k => [k, r.memory.idle[k]] as const)
  const worst = Math.max(...idleNodes.map(([, v]) => v))
  t.push({ id: 'idle-rss', label: 'idle node RSS ≤ 80 MiB (relay, home, client proxy)', value: idleNodes.map(([k, v]) => `${k} ${v}`).join(', ') + ' MiB', pass: worst <= 80 })
  const relayScale = r.scale.relay
  const directScale = r.scale.direct
  const n = r.params.tunnels
  const allIntact = relayScale != null && directScale != null && relayScale.intact === n && directScale.intact === n
  t.push({
    id: 'parallel-intact',
    label: `1000 parallel tunnels all intact${n !== 1000 ? ` (this run: ${n})` : ''}`,
    value: `relayed ${relayScale?.intact ?? 0}/${n}, direct ${directScale?.intact ?? 0}/${n}`,
    pass: n >= 1000 ? allIntact : (allIntact ? null : false)
  })
  t.push(...relayTargets(r.relay))
  if (r.control != null) t.push(...controlTargets(r.control))
  return t
}

/** bench/results/<date>-<mode>.json, docs/PERFORMANCE.md, docs/performance.svg. */
export function writeOutputs (r: BenchResult, log: (s: string) => void): void {
  const dir = join(ROOT, 'bench', 'results')
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `${r.date.slice(0, 10)}-${r.mode}.json`)
  writeFileSync(file, JSON.stringify(r, null, 2) + '\n')
  mkdirSync(join(ROOT, 'docs'), { recursive: true })
  writeFileSync(join(ROOT, 'docs', 'PERFORMANCE.md'), renderMarkdown(r, `bench/results/${r.date.slice(0, 10)}-${r.mode}.json`) + udpMarkdown(r.udp).join('\n') + '\n' + tunMarkdown(r.tun).join('\n'))
  writeFileSync(join(ROOT, 'docs', 'performance.svg'), renderSvg(r))
  log(`wrote ${file}, docs/PERFORMANCE.md, docs/performance.svg`)
}

/** Print the summary: throughput table, latency, scale, memory, targets. */
export function summaryLines (r: BenchResult): string[] {
  const out: string[] = []
  out.push('')
  out.push(`throughput, median MiB/s of ${r.params.runs} × ${r.params.transferMiB} MiB (×raw, ×ssh -L default):`)
  for (const p of r.paths) {
    const t = r.throughput[p.id]
    if (t == null) { out.push(`  ${p.label.padEnd(44)} n/a${p.note != null ? ` (${p.note})` : ''}`); continue }
    const f = (d: DirResult): string => `${d.median.toFixed(0).padStart(5)} [${d.min.toFixed(0)}–${d.max.toFixed(0)}] (${d.ratioRaw?.toFixed(2) ?? '-'}×raw, ${d.ratioSsh?.toFixed(2) ?? '-'}×ssh) ${d.cpuPerGiBPath.toFixed(1)} cpu-s/GiB${d.failures.length > 0 ? ` ${d.failures.length} FAILED` : ''}`
    out.push(`  ${p.label.padEnd(44)} up ${f(t.up)} | down ${f(t.down)}`)
  }
  out.push('new connection through a running forwarder → first echo byte (ms):')
  const fl = (v: LatencySummary): string => v.failed > 0 ? `  (${v.failed} failed: ${v.errors?.[0] ?? ''})` : ''
  for (const [k, v] of Object.entries(r.latency.newTunnel)) out.push(`  ${k.padEnd(10)} p50 ${v.p50}  p99 ${v.p99}${fl(v)}`)
  out.push('cold process start → first byte (ms):')
  for (const [k, v] of Object.entries(r.latency.coldStart)) out.push(`  ${k.padEnd(32)} p50 ${v.p50}  p99 ${v.p99}${fl(v)}`)
  out.push(`parallel tunnels (${r.params.tunnels} × ${r.params.tunnelBytes / 1024} KiB echo):`)
  for (const [k, v] of Object.entries(r.scale)) out.push(`  ${k.padEnd(10)} intact ${v.intact}/${v.tunnels}  p50 ${v.p50} ms  p99 ${v.p99} ms  wall ${v.wallMs} ms`)
  out.push('memory (MiB): idle RSS / end RSS / peak (VmHWM):')
  for (const k of Object.keys(r.memory.peak)) out.push(`  ${k.padEnd(34)} ${String(r.memory.idle[k]).padStart(6)} ${String(r.memory.end[k]).padStart(6)} ${String(r.memory.peak[k]).padStart(6)}`)
  out.push(`  relay RSS right after all transfers: ${r.memory.relayAfterTransfers}`)
  out.push(...relaySummaryLines(r.relay, { targets: false }))
  out.push('targets:')
  for (const t of r.targets) out.push(`  [${t.pass === true ? 'pass' : t.pass === false ? 'MISS' : ' -- '}] ${t.label}: ${t.value}`)
  out.push(`runtime ${r.runtimeSeconds} s (${Object.entries(r.phases).map(([k, v]) => `${k} ${v}`).join(', ')}), load average ${r.machine.loadavgStart.join('/')} → ${r.machine.loadavgEnd.join('/')}, CPU pressure ${r.machine.cpuPressureStart ?? '-'}% → ${r.machine.cpuPressureEnd ?? '-'}%`)
  return out
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
