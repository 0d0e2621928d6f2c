import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { processStats } from '../../src/metrics/process-stats.js'

/** Install a fake `globalThis.gc` (what `--expose-gc` provides) that counts its calls. */
function countingGc (): { calls: () => number, restore: () => void } {
  const g = globalThis as any
  const saved = g.gc
  let n = 0
  g.gc = () => { n++ }
  return { calls: () => n, restore: () => { if (saved === undefined) delete g.gc; else g.gc = saved } }
}

describe('processStats', () => {
  it('reports the heap without forcing a GC by default (a Prometheus scrape must not stop the process)', () => {
    const gc = countingGc()
    try {
      const s = processStats()
      assert.ok(s.heapUsedMiB > 0 && s.rssMiB > 0)
      assert.equal(gc.calls(), 0)
    } finally { gc.restore() }
  })

  it('runs a full GC first only when asked (status socket, state dump)', () => {
    const gc = countingGc()
    try {
      processStats({ collectGarbage: true })
      assert.equal(gc.calls(), 1)
    } finally { gc.restore() }
  })

  it('asking for a GC without --expose-gc costs nothing and still reports', () => {
    const g = globalThis as any
    const saved = g.gc
    delete g.gc
    try { assert.ok(processStats({ collectGarbage: true }).heapUsedMiB > 0) } finally { if (saved !== undefined) g.gc = saved }
  })
})
