/**
 * Interleaved A/B runs of the relayed tunnel: `node dist/bench/relay-ab.js
 * [--size MiB] [--runs N] [--profile DIR] [--frames DIR] [--path relay|direct]
 * --variant NAME[:ENV=VALUE,...] ...`.
 *
 * Each variant gets its own relay, home daemon and `peerup proxy --path relay`
 * (the variant's environment is given to all three), all on loopback. Every
 * run moves `size` MiB up and down through every variant, in an order rotated
 * each run, and reads the CPU time of each process on the path before and
 * after each transfer. Prints the median MiB/s and the CPU seconds per GiB of
 * each process (proxy, relay, home), which is steadier than MiB/s on a shared
 * machine. `--profile DIR` writes V8 CPU profiles (bench/cpu-profile.ts),
 * `--frames DIR` chunk-size counts per layer (bench/frame-stats.ts).
 */
import '../src/polyfill.js'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Harness, freePort, startMesh, type Proc } from '../test/fixtures/mesh.js'
import { download, upload } from './client.js'
import { cpuSeconds } from './procstat.js'
import { startBenchServers } from './spawn.js'
import { median } from './stats.js'

const here = dirname(fileURLToPath(import.meta.url))
const MiB = 1024 * 1024

interface Variant { name: string, env: Record<string, string>, h: Harness, port: number, procs: Record<string, Proc> }

function parse (argv: string[]): { size: number, runs: number, profile?: string, frames?: string, path: string, variants: Array<{ name: string, env: Record<string, string> }> } {
  const o = { size: 256, runs: 3, path: 'relay', variants: [] as Array<{ name: string, env: Record<string, string> }> } as ReturnType<typeof parse>
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--size') o.size = Number(argv[++i])
    else if (a === '--runs') o.runs = Number(argv[++i])
    else if (a === '--profile') o.profile = resolve(argv[++i])
    else if (a === '--frames') o.frames = resolve(argv[++i])
    else if (a === '--path') o.path = argv[++i]
    else if (a === '--variant') {
      const [name, spec = ''] = argv[++i].split(':')
      const env: Record<string, string> = {}
      for (const kv of spec.split(',').filter(Boolean)) { const [k, v] = kv.split('='); env[k] = v }
      o.variants.push({ name, env })
    } else throw new Error(`unknown option ${a}`)
  }
  if (o.variants.length === 0) o.variants.push({ name: 'A', env: {} })
  return o
}

const o = parse(process.argv.slice(2))
const servers = await startBenchServers()
const variants: Variant[] = []
const preload: string[] = []
if (o.profile != null) { mkdirSync(o.profile, { recursive: true }); preload.push(`--import ${join(here, 'cpu-profile.js')}`) }
if (o.frames != null) { mkdirSync(o.frames, { recursive: true }); preload.push(`--import ${join(here, 'frame-stats.js')}`) }
const savedEnv = { ...process.env }
try {
  for (const v of o.variants) {
    // startMesh spawns with process.env: set the variant's environment for its processes
    Object.assign(process.env, v.env)
    if (preload.length > 0) {
      process.env.NODE_OPTIONS = `${savedEnv.NODE_OPTIONS ?? ''} ${preload.join(' ')}`.trim()
      if (o.profile != null) process.env.PEERUP_BENCH_PROFILE_DIR = join(o.profile, v.name)
      if (o.frames != null) process.env.PEERUP_FRAME_STATS_DIR = join(o.frames, v.name)
      for (const d of [o.profile, o.frames]) if (d != null) mkdirSync(join(d, v.name), { recursive: true })
    }
    const h = new Harness()
    const mesh = await startMesh(h, { services: { bench: servers.port } })
    const port = await freePort()
    const proxy = h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'bench', String(port), '--path', o.path])
    await proxy.waitFor(/^ready$/m, 30_000)
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k]
    Object.assign(process.env, savedEnv)
    const procs: Record<string, Proc> = { proxy, home: mesh.homeProc }
    if (o.path === 'relay') procs.relay = mesh.relayProc
    variants.push({ name: v.name, env: v.env, h, port, procs })
    process.stdout.write(`variant ${v.name} ${JSON.stringify(v.env)}: proxy :${port}\n`)
  }
  // warm-up
  for (const v of variants) { await upload(v.port, 8 * MiB, 10_000); await download(v.port, 8 * MiB, 10_000) }
  const acc: Record<string, Record<'up' | 'down', { mibs: number[], cpu: Record<string, number[]> }>> = {}
  for (const v of variants) acc[v.name] = { up: { mibs: [], cpu: {} }, down: { mibs: [], cpu: {} } }
  const bytes = o.size * MiB
  for (let r = 0; r < o.runs; r++) {
    const order = variants.map((_, i) => variants[(i + r) % variants.length])
    const line: string[] = []
    for (const v of order) {
      for (const dir of (r % 2 === 0 ? ['up', 'down'] : ['down', 'up']) as Array<'up' | 'down'>) {
        const pids = Object.entries(v.procs).map(([role, p]) => [role, p.child.pid!] as const)
        const before = pids.map(([, pid]) => cpuSeconds(pid))
        const t = dir === 'up' ? await upload(v.port, bytes, 10_000) : await download(v.port, bytes, 10_000)
        const a = acc[v.name][dir]
        a.mibs.push(o.size / t.seconds)
        pids.forEach(([role, pid], i) => { (a.cpu[role] ??= []).push((cpuSeconds(pid) - before[i]) / (bytes / (1024 * MiB))) })
        line.push(`${v.name} ${dir} ${(o.size / t.seconds).toFixed(0)}`)
      }
    }
    process.stdout.write(`run ${r + 1}/${o.runs}: ${line.join(', ')}\n`)
  }
  // a process that keeps burning CPU between transfers (a spinning loop) shows here
  const idle0 = variants.map(v => Object.entries(v.procs).map(([role, p]) => [role, cpuSeconds(p.child.pid!)] as const))
  await new Promise(resolve => setTimeout(resolve, 3000))
  variants.forEach((v, i) => {
    process.stdout.write(`${v.name} idle CPU % over 3 s after the runs: ${idle0[i].map(([role, c]) => `${role} ${((cpuSeconds(v.procs[role].child.pid!) - c) / 3 * 100).toFixed(0)}`).join(', ')}\n`)
  })
  for (const v of variants) {
    for (const dir of ['up', 'down'] as const) {
      const a = acc[v.name][dir]
      const cpu = Object.entries(a.cpu).map(([role, xs]) => `${role} ${median(xs).toFixed(2)}`)
      const total = a.mibs.map((_, i) => Object.values(a.cpu).reduce((s, xs) => s + xs[i], 0))
      process.stdout.write(`${v.name.padEnd(10)} ${dir.padEnd(4)} MiB/s ${median(a.mibs).toFixed(0).padStart(4)} [${a.mibs.map(x => x.toFixed(0)).join(' ')}]  CPU-s/GiB ${cpu.join(', ')}, total ${median(total).toFixed(2)} [${total.map(x => x.toFixed(1)).join(' ')}]\n`)
    }
  }
} finally {
  for (const v of variants) {
    // SIGTERM lets profiles and frame stats be written at exit
    for (const p of Object.values(v.procs)) p.kill('SIGTERM')
    if (process.env.RELAY_AB_STDERR != null) for (const [role, p] of Object.entries(v.procs)) writeFileSync(join(process.env.RELAY_AB_STDERR, `${v.name}-${role}.log`), p.stderr())
    await Promise.all(Object.values(v.procs).map(async p => await Promise.race([p.exited, new Promise(resolve => setTimeout(resolve, 5000))])))
    await v.h.cleanup()
  }
  await servers.stop()
}
