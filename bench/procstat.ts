/**
 * Linux /proc readers: CPU ticks and memory of the processes on a path.
 * CPU time is utime+stime in clock ticks (CLK_TCK = 100 on Linux x86-64).
 */
import { readdirSync, readFileSync } from 'node:fs'

export const CLK_TCK = 100

/** Fields of /proc/<pid>/stat after the command name. */
function statFields (pid: number): string[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return s.slice(s.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/**
 * CPU seconds used so far by `pid`. With `children`, the CPU of waited-for
 * children is included (cutime+cstime), e.g. socat's forked per-connection
 * processes once they have exited.
 */
export function cpuSeconds (pid: number, children = false): number {
  const f = statFields(pid)
  if (f == null) return 0
  // f[0] is field 3 (state): utime = field 14, stime = 15, cutime = 16, cstime = 17
  let ticks = Number(f[11]) + Number(f[12])
  if (children) ticks += Number(f[13]) + Number(f[14])
  return ticks / CLK_TCK
}

/** Parent pid of `pid`, or undefined when it is gone. */
export function parentPid (pid: number): number | undefined {
  const f = statFields(pid)
  return f == null ? undefined : Number(f[1])
}

/** `pid` and all of its live descendants. */
export function processTree (pid: number): number[] {
  const parents = new Map<number, number[]>()
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    const pp = parentPid(Number(d))
    if (pp == null) continue
    const l = parents.get(pp) ?? []
    l.push(Number(d))
    parents.set(pp, l)
  }
  const out: number[] = []
  const todo = [pid]
  while (todo.length > 0) {
    const p = todo.pop()!
    if (statFields(p) == null) continue
    out.push(p)
    todo.push(...(parents.get(p) ?? []))
  }
  return out
}

/** Memory of a process in MiB: current RSS and peak RSS (VmHWM). */
export interface Mem { rss: number, hwm: number }

export function memMiB (pid: number): Mem {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN)
    return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 }
  } catch {
    return { rss: NaN, hwm: NaN }
  }
}

/**
 * A process (or process tree) whose CPU and memory are attributed to a role
 * on a path: "proxy", "relay", "home", "ssh", "sshd", "socat".
 */
export interface Tracked {
  role: string
  pid: number
  /** Count all descendants too (sshd forks per session). */
  tree?: boolean
  /** Count reaped children's CPU (socat forks per connection). */
  children?: boolean
}

export function trackedCpu (t: Tracked): number {
  if (t.tree === true) return processTree(t.pid).reduce((a, p) => a + cpuSeconds(p), 0)
  return cpuSeconds(t.pid, t.children === true)
}

/** Peak RSS (sum of VmHWM over a tree) and current RSS, MiB. */
export function trackedMem (t: Tracked): Mem {
  const pids = t.tree === true ? processTree(t.pid) : [t.pid]
  return pids.map(memMiB).reduce((a, m) => ({ rss: a.rss + m.rss, hwm: a.hwm + m.hwm }), { rss: 0, hwm: 0 })
}
