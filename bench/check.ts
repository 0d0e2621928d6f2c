/**
 * `npm run bench:check [-- --strict]`: run a fresh quick bench (writing
 * nothing) and compare the peerup paths' throughput ratios (to raw TCP and
 * to `ssh -L`) with the newest committed bench/results/*.json. A ratio that
 * dropped by more than 25% is flagged; that is a warning (exit 0) unless
 * --strict. CPU per GiB is shown alongside, for information.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { main } from './run.js'
import { ROOT, type BenchResult } from './result.js'
import { summaryLines } from './summary.js'

const DROP = 0.25

function committedResults (): string[] {
  try {
    const out = execFileSync('git', ['ls-files', 'bench/results'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    return out.split('\n').filter(f => /\.json$/.test(f)).map(f => join(ROOT, f))
  } catch {
    return []
  }
}

/** Newest result: by the date in the file name, then quick over full (like with like), then mtime. */
function newest (files: string[]): string | undefined {
  const key = (f: string): string => {
    const name = f.split('/').pop() ?? ''
    const date = /^(\d{4}-\d{2}-\d{2})/.exec(name)?.[1] ?? '0000-00-00'
    return `${date}|${name.includes('quick') ? 1 : 0}|${String(statSync(f).mtimeMs).padStart(16, '0')}`
  }
  return [...files].sort((a, b) => key(a) < key(b) ? 1 : -1)[0]
}

const args = process.argv.slice(2)
const strict = args.includes('--strict')
const benchArgs = ['--quick', '--no-write', ...args.filter(a => a !== '--strict' && a !== '--quick')]

let baselineFile = newest(committedResults())
let note = ''
if (baselineFile == null) {
  const dir = join(ROOT, 'bench', 'results')
  const onDisk = (() => { try { return readdirSync(dir).filter(f => f.endsWith('.json')).map(f => join(dir, f)) } catch { return [] } })()
  baselineFile = newest(onDisk)
  if (baselineFile != null) note = ' (no committed result; using the newest uncommitted one)'
}
if (baselineFile == null) {
  process.stdout.write('bench:check: no bench/results/*.json to compare with; run `npm run bench` and commit its result first\n')
  process.exit(strict ? 1 : 0)
}
const baseline = JSON.parse(readFileSync(baselineFile, 'utf8')) as BenchResult

let fresh: BenchResult | undefined
try {
  fresh = await main(benchArgs)
} catch (err) {
  process.stderr.write(`bench:check: the bench failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
}
if (fresh == null) process.exit(1)
for (const l of summaryLines(fresh)) process.stdout.write(l + '\n')

process.stdout.write(`\ncomparison with ${baselineFile.slice(ROOT.length + 1)}${note} (${baseline.mode} run, git ${baseline.git.commit.slice(0, 12)}):\n`)
const flagged: string[] = []
// the anchors' own ratios are context, not something peerup can regress; compare peerup's paths
for (const p of fresh.paths.filter(q => q.kind === 'peerup')) {
  for (const dir of ['up', 'down'] as const) {
    const now = fresh.throughput[p.id]?.[dir]
    const then = baseline.throughput[p.id]?.[dir]
    if (now == null || then == null) continue
    for (const k of ['ratioRaw', 'ratioSsh'] as const) {
      const a = then[k]
      const b = now[k]
      if (a == null || b == null || (k === 'ratioSsh' && p.id === 'ssh')) continue
      const change = (b - a) / a
      const bad = change < -DROP
      const line = `  ${bad ? 'DROP' : 'ok  '} ${p.id.padEnd(8)} ${dir.padEnd(4)} ${k === 'ratioRaw' ? '×raw' : '×ssh'}  ${a.toFixed(3)} → ${b.toFixed(3)}  (${change >= 0 ? '+' : ''}${(change * 100).toFixed(0)}%)`
      process.stdout.write(line + '\n')
      if (bad) flagged.push(line.trim())
    }
    // informational: CPU per GiB is steadier than MiB/s on a shared machine
    if (then.cpuPerGiBPath > 0 && now.cpuPerGiBPath > 0) {
      const c = (now.cpuPerGiBPath - then.cpuPerGiBPath) / then.cpuPerGiBPath
      process.stdout.write(`  info ${p.id.padEnd(8)} ${dir.padEnd(4)} cpu-s/GiB ${then.cpuPerGiBPath.toFixed(1)} → ${now.cpuPerGiBPath.toFixed(1)}  (${c >= 0 ? '+' : ''}${(c * 100).toFixed(0)}%)\n`)
    }
  }
}
if (flagged.length > 0) {
  process.stdout.write(`\nWARNING: ${flagged.length} ratio(s) dropped more than ${DROP * 100}% against the baseline (quick runs on a shared machine are noisy; re-run before concluding).\n`)
  process.exit(strict ? 1 : 0)
}
process.stdout.write('\nno ratio dropped more than 25%\n')
process.exit(0)
