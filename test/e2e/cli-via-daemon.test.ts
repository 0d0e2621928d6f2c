/**
 * Where a daemon runs, `peerup ping`, `resolve` and `service list --peer`
 * ask it over the control socket (as `tailscale ping` asks tailscaled)
 * instead of starting a second libp2p node with the daemon's peer ID. Real
 * processes (startMesh, a client daemon): each command runs under the
 * import-trace hook (test/fixtures/import-trace.ts) and must load no libp2p
 * code, and the relay's own count of open connections (its status socket,
 * as `peerup relay status` reads it) must not grow while the command runs.
 * The same commands with `--no-daemon` do both, which shows the checks can
 * fail. Output fields and exit codes are the same on both paths.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { queryStatusSocket } from '../../src/control/index.js'
import { NAME_CACHE_FILE } from '../../src/constants.js'
import { readImportTrace } from '../fixtures/import-trace.js'
import { Harness, echoServer, startMesh, type Mesh, type Proc, type RunResult } from '../fixtures/mesh.js'

const HOOK = resolve(fileURLToPath(import.meta.url), '../../fixtures/import-trace.js')
/** libp2p itself, its transports and services, and our own node assembly. */
const LIBP2P = [
  /\/node_modules\/libp2p\//,
  /\/node_modules\/@libp2p\/(tcp|websockets|webrtc|kad-dht|circuit-relay-v2|identify|dcutr|ping)\//,
  /^file:\/\/(?!.*\/node_modules\/).*\/dist\/src\/(index|node\/node|network\/network)\.js$/
]

interface Watched { r: RunResult, modules: string[], baseline: number, peak: number }

describe('CLI commands ask the running daemon', { timeout: 300_000 }, () => {
  const h = new Harness()
  let mesh: Mesh
  let daemon: Proc
  let n = 0

  before(async () => {
    const echo = await echoServer(h)
    // no direct address of the home, and only its relay knows its name: every command asks the relay
    mesh = await startMesh(h, { services: { echo: echo.port }, directAddr: false })
    const removed = await h.run(['--config', mesh.client.config, 'names', 'remove', 'home.grewal'])
    assert.equal(removed.code, 0, removed.stderr)
    daemon = h.start(['--config', mesh.client.config, 'daemon'])
    await daemon.waitFor(/^ready$/m, 30_000)
    await daemon.waitFor(/reserved on relay/, 20_000)
  }, { timeout: 90_000 })
  after(async () => { await h.cleanup() })

  const relayConnections = async (): Promise<number> => ((await queryStatusSocket(join(mesh.relay.dir, 'relay.sock'))) as { connections: number }).connections

  /** Run a client command traced, sampling the relay's connection count every 10 ms while it runs. */
  const watched = async (args: string[]): Promise<Watched> => {
    const trace = join(h.root, `trace-${n++}.txt`)
    const baseline = await relayConnections()
    let peak = baseline
    let running = true
    const sampler = (async () => {
      while (running) {
        peak = Math.max(peak, await relayConnections().catch(() => peak))
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    })()
    const r = await h.run(['--config', mesh.client.config, ...args], { timeoutMs: 45_000, env: { NODE_OPTIONS: `--import=${HOOK}`, PEERUP_IMPORT_TRACE: trace } })
    running = false
    await sampler
    return { r, modules: readImportTrace(trace), baseline, peak }
  }
  const libp2pModules = (w: Watched): string[] => w.modules.filter(m => LIBP2P.some(re => re.test(m)))

  const cases: Array<{ args: string[], out: RegExp }> = [
    { args: ['ping', 'home.grewal', '-c', '6', '--interval', '250'], out: /^reply from home\.grewal \(\S+\): time=\S+ ms path=/m },
    { args: ['resolve', 'home.grewal'], out: /^home\.grewal {2}12D3KooW\S+ {2}\(network: relay grewal/m },
    { args: ['service', 'list', '--peer', 'home.grewal'], out: /^echo\s+\d+\s+\/peerup\/echo\/1\.0\.0$/m }
  ]

  for (const c of cases) {
    it(`${c.args.slice(0, 2).join(' ')}: through the daemon, no libp2p node and no second connection on the relay`, { timeout: 60_000 }, async () => {
      const w = await watched(c.args)
      assert.equal(w.r.code, 0, w.r.stderr)
      assert.match(w.r.stdout.toString(), c.out)
      assert.ok(w.modules.some(m => m.includes('/cli/commands/')), `the trace recorded the CLI (${w.modules.length} modules)`)
      assert.deepEqual(libp2pModules(w), [], 'loaded libp2p: started a node of its own')
      assert.equal(w.peak, w.baseline, `the relay's connections went from ${w.baseline} to ${w.peak} during the command`)
    })
  }

  it('--no-daemon: the same commands start a node, which the relay sees as one more connection', { timeout: 90_000 }, async () => {
    for (const c of cases) {
      // one-shot runs share a name cache on disk: without it, resolve asks the relay
      rmSync(join(mesh.client.dir, NAME_CACHE_FILE), { force: true })
      const w = await watched([...c.args, '--no-daemon'])
      assert.equal(w.r.code, 0, w.r.stderr)
      assert.match(w.r.stdout.toString(), c.out)
      assert.ok(libp2pModules(w).length > 0, `${c.args.join(' ')} --no-daemon loaded libp2p`)
      assert.ok(w.peak > w.baseline, `${c.args.join(' ')} --no-daemon: the relay saw the second node (${w.baseline} → ${w.peak} connections)`)
    }
  })

  it('both paths give the same JSON fields and the same exit codes', { timeout: 120_000 }, async () => {
    const run = async (args: string[]): Promise<RunResult> => await h.run(['--config', mesh.client.config, ...args], { timeoutMs: 45_000 })
    const json: string[][] = [
      ['ping', 'home.grewal', '-c', '2', '--interval', '50', '--json'],
      ['resolve', 'home.grewal', '--json'],
      ['service', 'list', '--peer', 'home.grewal', '--json']
    ]
    // the field names, at every level (values differ: a daemon may already hold a direct path, or a cached answer)
    const keys = (v: unknown): unknown => Array.isArray(v) ? 'array' : v != null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, keys(x)])) : 'value'
    for (const args of json) {
      const [a, b] = [await run(args), await run([...args, '--no-daemon'])]
      assert.equal(a.code, 0, a.stderr)
      assert.equal(b.code, 0, b.stderr)
      const [ja, jb] = [JSON.parse(a.stdout.toString()), JSON.parse(b.stdout.toString())]
      assert.deepEqual(keys(ja), keys(jb), `${args.join(' ')}: same fields and types`)
      if (args[0] !== 'ping') assert.deepEqual({ ...ja, ms: 0, cached: false }, { ...jb, ms: 0, cached: false }, `${args.join(' ')}: same answer`)
    }
    const failing: Array<[string[], number, RegExp]> = [
      [['resolve', 'nobody.grewal'], 4, /nobody\.grewal/],
      [['ping', 'nobody.grewal', '-c', '1'], 4, /nobody\.grewal/],
      [['service', 'list', '--peer', 'nobody.grewal'], 4, /nobody\.grewal/]
    ]
    for (const [args, code, err] of failing) {
      const [a, b] = [await run(args), await run([...args, '--no-daemon'])]
      assert.equal(a.code, code, `${args.join(' ')} via the daemon: ${a.stderr}`)
      assert.equal(b.code, code, `${args.join(' ')} --no-daemon: ${b.stderr}`)
      assert.match(a.stderr, err)
      assert.equal(a.stderr, b.stderr, `${args.join(' ')}: the same message on both paths`)
    }
  })
})
