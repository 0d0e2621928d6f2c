/** Small statistics helpers for the benchmark (no dependencies). */

/** Median of a non-empty list (mean of the middle two for even lengths). */
export function median (xs: number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Nearest-rank percentile (p in 0..100) of a non-empty list. */
export function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * s.length)
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]
}

/** Round to `d` decimals. */
export function round (x: number, d = 2): number {
  if (!Number.isFinite(x)) return x
  const f = 10 ** d
  return Math.round(x * f) / f
}

/** p50/p99/min/max summary of latencies in ms. */
export interface LatencySummary {
  /** Successful samples. */
  n: number
  /** Failed attempts (not in the percentiles). */
  failed: number
  /** First few failure messages. */
  errors?: string[]
  p50: number
  p99: number
  min: number
  max: number
}

export function summarize (xs: number[], errors: string[] = []): LatencySummary {
  if (xs.length === 0) return { n: 0, failed: errors.length, errors: errors.slice(0, 3), p50: NaN, p99: NaN, min: NaN, max: NaN }
  return {
    n: xs.length,
    failed: errors.length,
    ...(errors.length > 0 ? { errors: errors.slice(0, 3) } : {}),
    p50: round(percentile(xs, 50), 2),
    p99: round(percentile(xs, 99), 2),
    min: round(Math.min(...xs), 2),
    max: round(Math.max(...xs), 2)
  }
}
