/**
 * The throughput section: a warm-up, then `runs` rounds of upload and
 * download per path (round-robin, rotated each run), with the CPU of every
 * process on the path per GiB moved, and ratios to raw TCP and ssh -L.
 */
import { download, upload } from './client.js'
import { trackedCpu, type Tracked } from './procstat.js'
import { GiB, MiB, type BenchResult, type Direction, type DirResult } from './result.js'
import { median, round } from './stats.js'
import type { BenchSetup } from './setup.js'

/** Options of {@link measureThroughput}. */
export interface ThroughputOptions {
  /** Path ids to measure. */
  live: string[]
  runs: number
  sizeMiB: number
  warmupMiB: number
  log: (line: string) => void
}

/** Measure every live path both ways. */
export async function measureThroughput (setup: Pick<BenchSetup, 'ports' | 'tracked' | 'servers'>, options: ThroughputOptions): Promise<BenchResult['throughput']> {
  const { ports, tracked, servers } = setup
  const { live, runs, sizeMiB, warmupMiB, log } = options
  const bytes = sizeMiB * MiB
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
  return throughput
}
