/**
 * Commands that only read or edit files, or ask a daemon over its socket,
 * load no libp2p network code: each runs as a real CLI process under an
 * import-trace hook (test/fixtures/import-trace.ts) and its module graph is
 * checked for libp2p, its transports and services, the WebRTC addon and our
 * own node/network modules. A node-starting command is traced too, so a hook
 * that records nothing cannot pass the test. Speed itself is measured in the
 * bench (bench/control.ts), not here.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Harness, KEYTOOL, type NodeDir, type RunResult } from '../fixtures/mesh.js'
import { readImportTrace } from '../fixtures/import-trace.js'

const HOOK = resolve(fileURLToPath(import.meta.url), '../../fixtures/import-trace.js')

/** Modules a file command must not load: libp2p itself, its transports, muxers, encrypters and services, the WebRTC addon, our node assembly. */
const FORBIDDEN: RegExp[] = [
  /\/node_modules\/libp2p\//,
  /\/node_modules\/@libp2p\/(tcp|websockets|webrtc|kad-dht|circuit-relay-v2|identify|dcutr|ping|upnp-nat)\//,
  /\/node_modules\/@chainsafe\/libp2p-/,
  /\/node_modules\/node-datachannel\//,
  // our own node assembly (not a package's dist/src/index.js)
  /^file:\/\/(?!.*\/node_modules\/).*\/dist\/src\/(index|node\/node|network\/network|paths\/dialer|paths\/path-manager)\.js$/
]

interface Traced { r: RunResult, modules: string[] }

describe('CLI: file commands load no libp2p', { concurrency: 2, timeout: 180_000 }, () => {
  const h = new Harness()
  let home: NodeDir
  let relay: NodeDir
  let n = 0
  after(async () => { await h.cleanup() })
  before(async () => {
    home = await h.initNode('home', 'home')
    relay = await h.initNode('relay', 'relay')
  })

  const traced = async (args: string[], bin?: string): Promise<Traced> => {
    const trace = join(h.root, `trace-${n++}.txt`)
    const r = await h.run(args, { bin, timeoutMs: 45_000, env: { NODE_OPTIONS: `--import=${HOOK}`, PEERUP_IMPORT_TRACE: trace } })
    return { r, modules: readImportTrace(trace) }
  }
  const noLibp2p = (label: string, t: Traced, code = 0): void => {
    assert.equal(t.r.code, code, `${label}: exit ${t.r.code}; stderr=${t.r.stderr}`)
    assert.ok(t.modules.some(m => m.endsWith('/cli/peerup.js') || m.endsWith('/cli/keytool.js') || m.includes('/cli/commands/')), `${label}: the trace recorded the CLI's own modules (${t.modules.length} modules)`)
    const bad = t.modules.filter(m => FORBIDDEN.some(re => re.test(m)))
    assert.deepEqual(bad, [], `${label} loaded libp2p network code`)
  }

  it('the trace sees libp2p where a command starts a node', async () => {
    // a literal peer ID resolves in the node's last tier: a node starts and stops, nothing is dialled
    const t = await traced(['--config', home.config, 'resolve', relay.peerId])
    assert.equal(t.r.code, 0, t.r.stderr)
    assert.ok(t.modules.some(m => /\/node_modules\/libp2p\//.test(m)), `no libp2p in ${t.modules.length} traced modules`)
    assert.ok(t.modules.some(m => m.endsWith('/dist/src/node/node.js')))
  })

  it('--version, --help, whoami, init, ssh-config, status (no daemon), relay status and names, gateway with a bad flag', async () => {
    const cfg = ['--config', home.config]
    const cases: Array<[string[], number]> = [
      [['--version'], 0],
      [['--help'], 0],
      [[...cfg, 'whoami'], 0],
      [[...cfg, 'whoami', '--json'], 0],
      [['--config', join(h.root, 'fresh', 'config.yaml'), 'init', '--role', 'client', '--network', 'grewal', '--name', 'fresh'], 0],
      [[...cfg, 'ssh-config'], 0],
      [[...cfg, 'status'], 4],
      [['--config', relay.config, 'relay', 'status'], 4],
      [['--config', relay.config, 'relay', 'names', 'list'], 0],
      [[...cfg, 'gateway', '--socks', 'no-port'], 2],
      [[...cfg, 'ping', 'home.grewal', '--path', 'sideways'], 2]
    ]
    for (const [args, code] of cases) noLibp2p(args.join(' '), await traced(args), code)
  })

  it('--version and status (daemon client) load not even zod, YAML or an @libp2p package', async () => {
    const heavy = /\/node_modules\/(zod|yaml|@libp2p\/[^/]+|@multiformats\/[^/]+|multiformats)\//
    for (const [args, code] of [[['--version'], 0], [['--config', home.config, 'status'], 4], [['--config', home.config, 'status', '--json'], 4]] as const) {
      const t = await traced([...args])
      noLibp2p(args.join(' '), t, code)
      assert.deepEqual(t.modules.filter(m => heavy.test(m)), [], `${args.join(' ')} loads only the control client`)
    }
  })

  it('auth, service and names: add, list, remove', async () => {
    const cfg = ['--config', home.config]
    const peer = relay.peerId
    const cases: string[][] = [
      ['auth', 'add', peer, '--comment', 'traced'],
      ['auth', 'add', peer, '--service', 'web'],
      ['auth', 'list'],
      ['auth', 'remove', peer],
      ['service', 'add', 'web', '127.0.0.1:8080'],
      ['service', 'list', '--json'],
      ['names', 'add', 'other', peer],
      ['names', 'list'],
      ['names', 'remove', 'other'],
      ['service', 'remove', 'web']
    ]
    // service web must exist before its own allow-list is edited
    const ordered = [cases[4], ...cases.filter((_, i) => i !== 4)]
    for (const c of ordered) noLibp2p(c.join(' '), await traced([...cfg, ...c]))
  })

  it('keytool (both entries)', async () => {
    const key = join(h.root, 'traced.key')
    const keys = join(h.root, 'traced_authorized_keys')
    noLibp2p('keytool generate', await traced(['keytool', 'generate', key]))
    noLibp2p('keytool peerid', await traced(['keytool', 'peerid', key]))
    noLibp2p('keytool authorize', await traced(['keytool', 'authorize', relay.peerId, '--file', keys]))
    noLibp2p('keytool validate', await traced(['keytool', 'validate', '--file', keys]))
    noLibp2p('peerup-keytool list', await traced(['list', '--file', keys], KEYTOOL))
  })
})
