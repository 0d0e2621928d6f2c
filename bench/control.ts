/**
 * Bench section for the daemon's control API (`peerup status`, daemon-backed
 * `peerup nc`) and for idle memory:
 *
 * - cold process start → first byte: `peerup --version`, `peerup status`,
 *   the file commands `peerup whoami` and `peerup auth add` (spawn → exit:
 *   it prints only to stderr), `peerup nc` through the client daemon and
 *   in-process (`--no-daemon`), direct and relayed;
 * - `ssh host true` through the relay with `ProxyCommand peerup nc` (daemon
 *   and in-process) against direct ssh to the throwaway sshd;
 * - idle RSS of relay, home and client daemons, and the levers that move it
 *   (V8 young-generation size, the DHT), each measured with a relayed
 *   throughput check so a lever that costs speed shows.
 *
 * It runs its own relay + home + client daemon mesh (the main bench's
 * client has no daemon, so its own `peerup nc` rows stay in-process).
 * Standalone: `node dist/bench/control.js [--quick] [--runs N]` (prints JSON).
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { editYamlFile } from '../src/index.js'
import { Harness, PEERUP, freePort, startMesh, type Mesh, type Proc } from '../test/fixtures/mesh.js'
import { download, upload } from './client.js'
import { kill, killAll, track } from './procs.js'
import { coldFirstByte } from './spawn.js'
import { memMiB } from './procstat.js'
import { sshAvailable, sshClientArgs, startSshd, type Sshd } from './ssh.js'
import { median, round, summarize, type LatencySummary } from './stats.js'

const MiB = 1024 * 1024

/** Options of {@link runControlBench}. */
export interface ControlBenchOptions {
  /** Port of the bench servers (echo / upload / download). */
  servicePort: number
  /** The main bench's sshd; started here when absent and ssh is installed. */
  sshd?: Sshd
  /** Runs per cold-start and ssh row (≥ 10 for p50s worth reading). */
  runs: number
  quick: boolean
  log: (line: string) => void
  /** Scratch directory for an sshd of our own. */
  scratch?: string
}

/** One idle-memory lever, measured on a fresh mesh. */
export interface RssLever {
  id: string
  label: string
  /** What it takes to adopt (an env var, a config key). */
  how: string
  /** Idle RSS (MiB) per process. */
  rss: { relay: number, home: number, client: number }
  /** Relayed `peerup proxy` MiB/s (median), same mesh, after the idle reading. */
  throughput: { up: number, down: number }
}

/** Result of {@link runControlBench}. */
export interface ControlBenchResult {
  runs: number
  /** Cold process start → first stdout byte (ms). */
  coldStart: Record<string, LatencySummary>
  /** `ssh … true` wall time, spawn → exit (ms). */
  ssh: Record<string, LatencySummary> | null
  /** p50 of ssh via the relay (daemon-backed nc) / p50 of direct ssh. */
  sshRatio: number | null
  /** Idle RSS (MiB) of this section's mesh under the default settings, and the client daemon's heap breakdown. */
  idle: { relay: number, home: number, client: number, clientHeap: Record<string, number> }
  levers: RssLever[]
}

async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }


/** Spawn → exit wall time of a command that must exit 0 (ms). */
async function wallTime (name: string, cmd: string, args: string[], timeoutMs = 20_000): Promise<number> {
  const t0 = performance.now()
  const c = track(name, cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  c.child.stdout!.on('data', () => {})
  const timer = setTimeout(() => { void kill(c) }, timeoutMs)
  const code = await c.exited
  clearTimeout(timer)
  const ms = performance.now() - t0
  if (code !== 0) throw new Error(`${name}: exit ${String(code)}; stderr: ${c.stderr().slice(-500)}`)
  return ms
}

/** Run each row `runs` times, interleaved; 3 failures in a row drop a row. */
async function interleaved (rows: Record<string, () => Promise<number>>, runs: number, log: (s: string) => void): Promise<Record<string, LatencySummary>> {
  const ms: Record<string, number[]> = {}
  const errors: Record<string, string[]> = {}
  const streak: Record<string, number> = {}
  for (let i = 0; i < runs; i++) {
    for (const [k, f] of Object.entries(rows)) {
      if ((streak[k] ?? 0) >= 3) continue
      try {
        ;(ms[k] ??= []).push(await f())
        streak[k] = 0
      } catch (err) {
        streak[k] = (streak[k] ?? 0) + 1
        ;(errors[k] ??= []).push((err as Error).message.slice(0, 300))
        log(`  ${k} failed: ${(err as Error).message.slice(0, 300)}`)
      }
    }
  }
  const out: Record<string, LatencySummary> = {}
  for (const k of Object.keys(rows)) out[k] = summarize(ms[k] ?? [], errors[k])
  return out
}

async function startClientDaemon (h: Harness, mesh: Mesh): Promise<Proc> {
  const p = h.start(['--config', mesh.client.config, 'daemon'])
  await p.waitFor(/^ready$/m, 30_000)
  await p.waitFor(/reserved on relay/, 20_000)
  return p
}

const rssOf = (p: Proc): number => round(memMiB(p.child.pid ?? -1).rss, 1)

/** One lever: a fresh mesh with `env` for every process and `edit` on the configs. */
async function measureLever (o: ControlBenchOptions, lever: { id: string, label: string, how: string, env?: string, edit?: (m: { relay: string, home: string, client: string }) => void }): Promise<RssLever> {
  const h = new Harness()
  const saved = process.env.NODE_OPTIONS
  try {
    if (lever.env != null) process.env.NODE_OPTIONS = `${saved ?? ''} ${lever.env}`.trim()
    const mesh = await startMesh(h, {
      services: { bench: o.servicePort },
      beforeStart: ({ relay, home, client }) => { lever.edit?.({ relay: relay.config, home: home.config, client: client.config }) }
    })
    const daemon = await startClientDaemon(h, mesh)
    const port = await freePort()
    // in its own process, as before proxy went through a running daemon: the lever is measured on the daemon alone
    const proxy = h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'bench', String(port), '--path', 'relay', '--no-daemon'])
    await proxy.waitFor(/^ready$/m, 30_000)
    await sleep(3000)
    const rss = { relay: rssOf(mesh.relayProc), home: rssOf(mesh.homeProc), client: rssOf(daemon) }
    const size = (o.quick ? 32 : 64) * MiB
    const n = o.quick ? 2 : 3
    const up: number[] = []
    const down: number[] = []
    await download(port, 8 * MiB, 10_000)
    for (let i = 0; i < n; i++) {
      up.push(size / MiB / (await upload(port, size, 10_000)).seconds)
      down.push(size / MiB / (await download(port, size, 10_000)).seconds)
    }
    const r: RssLever = { id: lever.id, label: lever.label, how: lever.how, rss, throughput: { up: round(median(up), 0), down: round(median(down), 0) } }
    o.log(`  lever ${lever.id}: idle RSS relay ${rss.relay}, home ${rss.home}, client daemon ${rss.client} MiB; relayed ${r.throughput.up}/${r.throughput.down} MiB/s up/down`)
    return r
  } finally {
    if (saved == null) delete process.env.NODE_OPTIONS
    else process.env.NODE_OPTIONS = saved
    await h.cleanup()
  }
}

/** The levers tried, in order; the first is the shipped default. */
export const LEVERS: Array<{ id: string, label: string, how: string, env?: string, edit?: (m: { relay: string, home: string, client: string }) => void }> = [
  { id: 'default', label: 'defaults (V8 young generation up to 2 × 16 MiB)', how: '-' },
  { id: 'semi-4', label: 'young generation semi-space ≤ 4 MiB', how: 'NODE_OPTIONS=--max-semi-space-size=4', env: '--max-semi-space-size=4' },
  { id: 'semi-2', label: 'young generation semi-space ≤ 2 MiB', how: 'NODE_OPTIONS=--max-semi-space-size=2', env: '--max-semi-space-size=2' },
  { id: 'semi-1', label: 'young generation semi-space ≤ 1 MiB', how: 'NODE_OPTIONS=--max-semi-space-size=1', env: '--max-semi-space-size=1' },
  {
    id: 'no-dht',
    label: 'no DHT on home and client (network.dht: false)',
    how: 'network.dht: false',
    edit: (m) => { for (const f of [m.home, m.client]) editYamlFile(f, doc => { doc.setIn(['network', 'dht'], false) }) }
  },
  {
    id: 'ws',
    label: 'WebSockets loaded (a /ws listen address on home and client), the old default',
    how: 'a /ws address in network.listen',
    edit: (m) => {
      for (const f of [m.home, m.client]) {
        editYamlFile(f, doc => {
          const listen = (doc.getIn(['network', 'listen']) as any)?.toJSON?.() ?? []
          doc.setIn(['network', 'listen'], doc.createNode([...listen, '/ip4/127.0.0.1/tcp/0/ws']))
        })
      }
    }
  }
]

/** Run the section; stops everything it started. */
export async function runControlBench (o: ControlBenchOptions): Promise<ControlBenchResult> {
  const log = o.log
  const h = new Harness()
  let sshd = o.sshd
  const result: ControlBenchResult = { runs: o.runs, coldStart: {}, ssh: null, sshRatio: null, idle: { relay: NaN, home: NaN, client: NaN, clientHeap: {} }, levers: [] }
  try {
    if (sshd == null && sshAvailable()) {
      sshd = await startSshd(o.scratch ?? `${h.root}/ssh`, await freePort()).catch((err: Error) => { log(`control: no sshd: ${err.message}`); return undefined })
    }
    const mesh = await startMesh(h, { services: { bench: o.servicePort, ...(sshd != null ? { ssh: sshd.port } : {}) } })
    const daemon = await startClientDaemon(h, mesh)
    const cfg = mesh.client.config
    const node = process.execPath
    await sleep(2000)
    result.idle = {
      relay: rssOf(mesh.relayProc),
      home: rssOf(mesh.homeProc),
      client: rssOf(daemon),
      clientHeap: {}
    }
    const status = await h.run(['--config', cfg, 'status', '--json'])
    if (status.code === 0) {
      const m = JSON.parse(status.stdout.toString()).memory as Record<string, number>
      for (const [k, v] of Object.entries(m)) result.idle.clientHeap[k] = round(v / MiB, 1)
    }
    log(`control: idle RSS MiB relay ${result.idle.relay}, home ${result.idle.home}, client daemon ${result.idle.client} (heap ${JSON.stringify(result.idle.clientHeap)})`)

    log(`control: cold start → first byte, ${o.runs} runs per row`)
    // file commands on a config dir of their own (auth add must not touch the mesh's trust)
    const own = await h.initNode('files', 'home')
    const nc = (path: string, daemonOn: boolean) => async () => await coldFirstByte(`nc ${path}`, node, [PEERUP, '--config', cfg, 'nc', 'home.grewal', 'bench', '--path', path, ...(daemonOn ? [] : ['--no-daemon'])], 'x')
    result.coldStart = await interleaved({
      'node (empty script)': async () => await coldFirstByte('node', node, ['-e', 'process.stdout.write("x")'], undefined),
      'peerup --version': async () => await coldFirstByte('version', node, [PEERUP, '--version'], undefined),
      'peerup status (daemon)': async () => await coldFirstByte('status', node, [PEERUP, '--config', cfg, 'status'], undefined),
      'peerup whoami': async () => await coldFirstByte('whoami', node, [PEERUP, '--config', own.config, 'whoami'], undefined),
      'peerup auth add (spawn → exit)': async () => await wallTime('auth add', node, [PEERUP, '--config', own.config, 'auth', 'add', mesh.relay.peerId]),
      'peerup nc, direct (daemon)': nc('direct', true),
      'peerup nc, relayed (daemon)': nc('relay', true),
      'peerup nc, direct (in-process)': nc('direct', false),
      'peerup nc, relayed (in-process)': nc('relay', false)
    }, o.runs, log)
    for (const [k, v] of Object.entries(result.coldStart)) log(`  ${k.padEnd(34)} p50 ${v.p50} ms  p99 ${v.p99} ms${v.failed > 0 ? `  (${v.failed} failed)` : ''}`)

    if (sshd != null) {
      log(`control: ssh … true, ${o.runs} runs per row`)
      const base = sshClientArgs(sshd)
      const proxied = (daemonOn: boolean): string[] => [...base, '-o', `ProxyCommand=${node} ${PEERUP} --config ${cfg} nc %h ssh --path relay${daemonOn ? '' : ' --no-daemon'}`, `${sshd!.user}@home.grewal`, 'true']
      result.ssh = await interleaved({
        'ssh direct': async () => await wallTime('ssh direct', 'ssh', [...base, `${sshd!.user}@127.0.0.1`, 'true']),
        'ssh via relay (nc through the daemon)': async () => await wallTime('ssh relay daemon', 'ssh', proxied(true)),
        'ssh via relay (nc in-process)': async () => await wallTime('ssh relay in-process', 'ssh', proxied(false))
      }, o.runs, log)
      const d = result.ssh['ssh direct'].p50
      const r = result.ssh['ssh via relay (nc through the daemon)'].p50
      result.sshRatio = Number.isFinite(d) && Number.isFinite(r) && d > 0 ? round(r / d, 2) : null
      for (const [k, v] of Object.entries(result.ssh)) log(`  ${k.padEnd(40)} p50 ${v.p50} ms  p99 ${v.p99} ms${v.failed > 0 ? `  (${v.failed} failed)` : ''}`)
    }
    await h.cleanup()

    // --quick: the shipped default only (each lever is a fresh mesh)
    const levers = o.quick ? LEVERS.filter(l => l.id === 'default') : LEVERS
    log(`control: idle RSS levers (${levers.length} fresh meshes)`)
    for (const lever of levers) {
      try {
        result.levers.push(await measureLever(o, lever))
      } catch (err) {
        log(`  lever ${lever.id} failed: ${(err as Error).message.slice(0, 300)}`)
      }
    }
  } finally {
    await h.cleanup()
  }
  return result
}

/** Pass/miss marks of this section. */
export function controlTargets (r: ControlBenchResult): Array<{ id: string, label: string, value: string, pass: boolean | null }> {
  const nc = r.coldStart['peerup nc, relayed (daemon)']
  const fileRows = [r.coldStart['peerup whoami'], r.coldStart['peerup auth add (spawn → exit)']]
  const fileMeasured = fileRows.every(f => f != null && f.n > 0)
  const ssh = r.ssh
  const idle = r.idle
  const worst = Math.max(idle.relay, idle.home, idle.client)
  const best = r.levers.filter(l => l.id.startsWith('semi-')).sort((a, b) => Math.max(a.rss.relay, a.rss.home, a.rss.client) - Math.max(b.rss.relay, b.rss.home, b.rss.client))[0]
  return [
    {
      id: 'nc-cold-relay-daemon',
      label: 'peerup nc cold start → first byte via relay, through the client daemon ≤ 250 ms (p50)',
      value: nc == null || nc.n === 0 ? 'not measured' : `p50 ${nc.p50} ms, p99 ${nc.p99} ms`,
      pass: nc == null || nc.n === 0 ? null : nc.failed === 0 && nc.p50 <= 250
    },
    {
      id: 'file-commands-cold',
      label: 'file commands load no libp2p: peerup whoami (first byte) and auth add (exit) ≤ 450 ms (p50)',
      value: !fileMeasured ? 'not measured' : `whoami p50 ${fileRows[0]!.p50} ms, auth add p50 ${fileRows[1]!.p50} ms`,
      pass: !fileMeasured ? null : fileRows.every(f => f!.failed === 0 && f!.p50 <= 450)
    },
    {
      id: 'ssh-true-relay',
      label: 'ssh true via relay (ProxyCommand peerup nc, client daemon) ≤ 1.3× direct ssh (p50)',
      value: ssh == null ? 'ssh not available' : `${r.sshRatio ?? 'n/a'}× (${ssh['ssh via relay (nc through the daemon)'].p50} ms vs ${ssh['ssh direct'].p50} ms)`,
      pass: r.sshRatio == null ? null : r.sshRatio <= 1.3
    },
    {
      id: 'idle-rss-daemons',
      label: 'idle node RSS ≤ 80 MiB (relay, home, client daemon; defaults)',
      value: `relay ${idle.relay}, home ${idle.home}, client daemon ${idle.client} MiB${best != null ? `; with ${best.how}: ${best.rss.relay}/${best.rss.home}/${best.rss.client}` : ''}`,
      pass: Number.isFinite(worst) ? worst <= 80 : null
    }
  ]
}

/** Markdown lines for docs/PERFORMANCE.md. */
export function controlMarkdown (r: ControlBenchResult): string[] {
  const out: string[] = ['', '## Control API and idle memory (bench/control.ts)', '']
  out.push(`Cold process start → first byte, p50/p99 of ${r.runs} runs (ms). "daemon" rows go through the client daemon's control socket and load no libp2p code.`, '')
  out.push('| command | p50 | p99 |', '|---|---:|---:|')
  for (const [k, v] of Object.entries(r.coldStart)) out.push(`| ${k} | ${v.p50} | ${v.p99} |`)
  if (r.ssh != null) {
    out.push('', `\`ssh … true\`, spawn → exit (ms); ratio (daemon-backed nc via relay / direct): ${r.sshRatio ?? 'n/a'}×`, '')
    out.push('| path | p50 | p99 |', '|---|---:|---:|')
    for (const [k, v] of Object.entries(r.ssh)) out.push(`| ${k} | ${v.p50} | ${v.p99} |`)
  }
  out.push('', `Idle RSS with the defaults: relay ${r.idle.relay} MiB, home ${r.idle.home} MiB, client daemon ${r.idle.client} MiB (client heap MiB: ${Object.entries(r.idle.clientHeap).map(([k, v]) => `${k} ${v}`).join(', ')}).`, '')
  out.push('| lever | how | relay | home | client daemon | relayed MiB/s up / down |', '|---|---|---:|---:|---:|---:|')
  for (const l of r.levers) out.push(`| ${l.label} | ${l.how} | ${l.rss.relay} | ${l.rss.home} | ${l.rss.client} | ${l.throughput.up} / ${l.throughput.down} |`)
  return out
}

if (process.argv[1] != null && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2)
  const quick = argv.includes('--quick')
  const runsAt = argv.indexOf('--runs')
  const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : (quick ? 5 : 10)
  const only = argv.includes('--no-levers')
  const servers = track('servers', process.execPath, [resolve(fileURLToPath(import.meta.url), '../servers.js')], { stdio: ['pipe', 'pipe', 'pipe'] })
  const servicePort = await new Promise<number>((resolve, reject) => {
    let buf = ''
    const t = setTimeout(() => { reject(new Error('bench servers did not start')) }, 10_000)
    servers.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      const m = /\{"port":(\d+)\}/.exec(buf)
      if (m != null) { clearTimeout(t); resolve(Number(m[1])) }
    })
  })
  if (only) LEVERS.splice(0)
  try {
    const r = await runControlBench({ servicePort, runs, quick, log: (l) => { process.stderr.write(l + '\n') } })
    process.stdout.write(JSON.stringify(r, null, 1) + '\n')
    for (const t of controlTargets(r)) process.stderr.write(`[${t.pass === true ? 'pass' : t.pass === false ? 'MISS' : ' -- '}] ${t.label}: ${t.value}\n`)
  } finally {
    await killAll()
  }
  process.exit(0)
}
