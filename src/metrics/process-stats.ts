import { readdirSync } from 'node:fs'

/** Memory and descriptor figures of the running process, for status queries and state dumps. */
export interface ProcessStats {
  /** Resident set size (MiB). */
  rssMiB: number
  /** V8 heap in use (MiB). */
  heapUsedMiB: number
  /** V8 heap reserved (MiB). */
  heapTotalMiB: number
  /** Memory of C++ objects bound to JS objects, buffers included (MiB). */
  externalMiB: number
  /** Memory of ArrayBuffers and Buffers (MiB). */
  arrayBuffersMiB: number
  /** Open file descriptors (Linux `/proc/self/fd`); null elsewhere. */
  fds: number | null
  /** Seconds since the process started. */
  uptimeSeconds: number
}

const MiB = 1024 * 1024
const r1 = (n: number): number => Math.round(n / MiB * 10) / 10

/** Open file descriptors of this process, or null where `/proc` is missing. */
export function openFds (): number | null {
  try {
    // the directory listing itself holds one descriptor while it runs
    return readdirSync('/proc/self/fd').length - 1
  } catch {
    return null
  }
}

/** Options of {@link processStats}. */
export interface ProcessStatsOptions {
  /**
   * Run a full garbage collection first, when Node runs with `--expose-gc`,
   * so heap figures taken at different times compare (leak hunts, soak
   * tests). Without `--expose-gc` it does nothing. Never set it on a path
   * that runs on every scrape: a full GC stops the process for the length of
   * a heap walk.
   *
   * @default false
   */
  collectGarbage?: boolean
}

/**
 * Current {@link ProcessStats}: the heap as it is, unless
 * `options.collectGarbage` asks for a full GC first.
 */
export function processStats (options: ProcessStatsOptions = {}): ProcessStats {
  const gc = (globalThis as any).gc
  if (options.collectGarbage === true && typeof gc === 'function') gc()
  const m = process.memoryUsage()
  return {
    rssMiB: r1(m.rss),
    heapUsedMiB: r1(m.heapUsed),
    heapTotalMiB: r1(m.heapTotal),
    externalMiB: r1(m.external),
    arrayBuffersMiB: r1(m.arrayBuffers),
    fds: openFds(),
    uptimeSeconds: Math.round(process.uptime())
  }
}
