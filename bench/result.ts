/**
 * The bench's result shape (bench/results/*.json, read by report.ts and
 * check.ts), its options, and the facts about the machine and the checkout
 * a result records.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism, loadavg, release } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { round, type LatencySummary } from './stats.js'
import type { ControlBenchResult } from './control.js'
import type { DnsResult } from './dns.js'
import type { RelayBenchResult } from './relay.js'
import type { TunBench } from './tun.js'
import type { UdpBench } from './udp.js'

const here = dirname(fileURLToPath(import.meta.url))
/** Project root (dist/bench/result.js → ../..). */
export const ROOT = resolve(here, '../..')
export const MiB = 1024 * 1024
export const GiB = 1024 * MiB

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

export function git (args: string[]): string {
  try { return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() } catch { return '' }
}

export function machine (): BenchResult['machine'] {
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

export async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }

