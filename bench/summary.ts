/**
 * What a finished bench run says: the pass/miss targets, the printed
 * summary, and the files it writes (results JSON, docs/PERFORMANCE.md,
 * docs/performance.svg).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { controlTargets } from './control.js'
import { relaySummaryLines, relayTargets } from './relay.js'
import { renderMarkdown, renderSvg } from './report.js'
import { ROOT, type BenchResult, type DirResult, type Target } from './result.js'
import { tunMarkdown } from './tun.js'
import { udpMarkdown } from './udp.js'
import type { LatencySummary } from './stats.js'

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
