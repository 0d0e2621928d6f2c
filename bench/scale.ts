/**
 * The scale section: many parallel tunnels, each echoing a few KiB, per
 * path (raw, ssh -L, direct, relayed): how many come back intact, and how
 * fast.
 */
import { parallelEcho } from './client.js'
import { percentile, round } from './stats.js'
import type { BenchResult } from './result.js'
import type { BenchSetup } from './setup.js'

/** `tunnels` parallel echoes of `tunnelBytes` per path (none when `skip`). */
export async function measureScale (setup: Pick<BenchSetup, 'ports'>, o: { live: string[], tunnels: number, tunnelBytes: number, quick: boolean, skip: boolean, log: (line: string) => void }): Promise<BenchResult['scale']> {
  const { ports } = setup
  const { live, tunnels, tunnelBytes, quick, log } = o
  const scale: BenchResult['scale'] = {}
  const scaleIds = o.skip ? [] : ['raw', ...(ports.ssh != null ? ['ssh'] : []), 'direct', 'relay'].filter(id => live.includes(id))
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
  return scale
}
