/**
 * Every one-shot command exits on its own, within a few seconds of its last
 * output, against a real relay and home daemon (startMesh): with no daemon
 * for the client's config, and again with one running. The client's names
 * file has no direct address of the home, so the node-starting commands
 * (`service list --peer`, `resolve`, `ping`, `nc --no-daemon`) reach it over
 * the relay and start a direct-UDP attempt: a stopped node that left the
 * WebRTC addon's threads running kept `service list --peer` alive for good.
 * Long-running commands (daemon, gateway, proxy, relay serve) are not here.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { Harness, KEYTOOL, echoServer, startMesh, type Mesh, type Proc, type RunResult } from '../fixtures/mesh.js'

/** How long a command may take to exit after its last output (ms). */
const EXIT_WITHIN = 5000
/** A command still running after this is killed (and fails its check). */
const KILL_AFTER = 25_000

interface Case {
  args: string[]
  /** @default 0 */
  code?: number
  input?: string
  bin?: string
  /** A check of the output, so a command that exits early without doing its job fails too. */
  out?: RegExp
}

describe('one-shot commands exit on their own', { timeout: 300_000 }, () => {
  const h = new Harness()
  let mesh: Mesh
  let client: string[]

  before(async () => {
    const echo = await echoServer(h)
    mesh = await startMesh(h, { services: { echo: echo.port }, directAddr: false })
    client = ['--config', mesh.client.config]
  }, { timeout: 90_000 })
  after(async () => { await h.cleanup() })

  const check = async (c: Case): Promise<RunResult> => {
    const label = `peerup ${c.args.join(' ')}`
    const r = await h.run(c.args, { input: c.input, bin: c.bin, timeoutMs: KILL_AFTER })
    assert.equal(r.code, c.code ?? 0, `${label}: exit ${r.code} (killed after ${KILL_AFTER} ms if SIGKILL); stdout=${r.stdout.toString().slice(0, 500)} stderr=${r.stderr.slice(0, 1000)}`)
    assert.ok(r.msAfterOutput <= EXIT_WITHIN, `${label}: exited ${r.msAfterOutput} ms after its last output (at most ${EXIT_WITHIN})`)
    if (c.out != null) assert.match(r.stdout.toString() + r.stderr, c.out, label)
    return r
  }
  const checkAll = async (cases: Case[]): Promise<void> => { for (const c of cases) await check(c) }

  /** Commands that start a node and reach the home over the relay. */
  const meshCases = (): Case[] => [
    { args: [...client, 'service', 'list', '--peer', 'home.grewal'], out: /^echo\s+\S+\s+\/peerup\/echo\/1\.0\.0$/m },
    { args: [...client, 'service', 'list', '--peer', 'home.grewal', '--json'], out: /"name":"echo"/ },
    { args: [...client, 'resolve', 'home.grewal'], out: new RegExp(mesh.home.peerId) },
    { args: [...client, 'ping', 'home.grewal', '-c', '2', '--interval', '50'], out: /^reply from home\.grewal/m },
    { args: [...client, 'nc', '--no-daemon', 'home.grewal', 'echo'], input: 'one-shot\n', out: /^one-shot$/m }
  ]

  it('without a daemon: file commands, keytool, status (exit 4), relay status, and the node-starting commands', async () => {
    const key = join(h.root, 'extra.key')
    const keys = join(h.root, 'extra_authorized_keys')
    const fresh = ['--config', join(h.root, 'fresh', 'config.yaml')]
    const other = mesh.relay.peerId
    await checkAll([
      { args: [...client, 'whoami'], out: new RegExp(`^${mesh.client.peerId}$`, 'm') },
      { args: [...client, 'whoami', '--json'], out: /"vip":"10\.64\./ },
      { args: [...fresh, 'init', '--role', 'client', '--network', 'grewal', '--name', 'fresh'], out: /next steps/ },
      { args: [...client, 'auth', 'add', other, '--comment', 'one-shot'], out: /added/ },
      { args: [...client, 'auth', 'list'], out: /one-shot/ },
      { args: [...client, 'auth', 'remove', other], out: /removed/ },
      { args: [...client, 'service', 'add', 'web', '127.0.0.1:9'], out: /added/ },
      { args: [...client, 'service', 'list'], out: /^web\s+127\.0\.0\.1:9/m },
      { args: [...client, 'service', 'remove', 'web'], out: /removed/ },
      { args: [...client, 'names', 'add', 'other', other], out: /written/ },
      { args: [...client, 'names', 'list'], out: /^other\s/m },
      { args: [...client, 'names', 'remove', 'other'], out: /removed/ },
      { args: [...client, 'ssh-config'], out: /ProxyCommand/ },
      { args: [...client, 'status'], code: 4, out: /daemon/ },
      { args: ['--config', mesh.relay.config, 'relay', 'status', '--json'], out: new RegExp(`"peerId":"${mesh.relay.peerId}"`) },
      { args: ['--config', mesh.relay.config, 'relay', 'names', 'list'], out: /^home\.grewal\s/m },
      { args: ['keytool', 'generate', key], out: /^12D3KooW/m },
      { args: ['keytool', 'peerid', key], out: /^12D3KooW/m },
      { args: ['keytool', 'authorize', other, '--file', keys], out: /added/ },
      { args: ['keytool', 'list', '--file', keys], out: new RegExp(other) },
      { args: ['keytool', 'validate', '--file', keys], out: /1 valid, 0 invalid/ },
      { args: ['keytool', 'revoke', other, '--file', keys], out: /removed/ },
      { args: ['peerid', key], bin: KEYTOOL, out: /^12D3KooW/m },
      ...meshCases(),
      // the other resolver tiers: a literal peer ID (past the DHT tier), an unknown name (exit 4)
      { args: [...client, 'resolve', mesh.home.peerId, '--json'], out: new RegExp(`"peerId":"${mesh.home.peerId}"`) },
      { args: [...client, 'resolve', 'nobody.grewal'], code: 4, out: /nobody\.grewal/ }
    ])
    // the relay tier: the names file no longer knows the home, its relay does
    await checkAll([
      { args: [...client, 'names', 'remove', 'home.grewal'], out: /removed/ },
      { args: [...client, 'resolve', 'home.grewal', '--json'], out: /"source":"network","via":"relay grewal"/ },
      { args: [...client, 'service', 'list', '--peer', 'home.grewal'], out: /^echo\s/m },
      { args: [...client, 'names', 'add', 'home.grewal', mesh.home.peerId], out: /written/ }
    ])
  })

  it('with the client daemon running: status, nc through it, and the node-starting commands', async () => {
    let daemon: Proc | undefined
    try {
      daemon = h.start([...client, 'daemon'])
      await daemon.waitFor(/^ready$/m, 30_000)
      await daemon.waitFor(/reserved on relay/, 20_000)
      await checkAll([
        { args: [...client, 'status', '--json'], out: new RegExp(`"peerId":"${mesh.client.peerId}"`) },
        { args: [...client, 'nc', 'home.grewal', 'echo'], input: 'via the daemon\n', out: /^via the daemon$/m },
        { args: [...client, 'whoami'], out: new RegExp(`^${mesh.client.peerId}$`, 'm') },
        { args: [...client, 'auth', 'list'], out: /home/ },
        ...meshCases()
      ])
    } finally {
      daemon?.kill('SIGTERM')
      // cleanup() SIGKILLs it if it is still stopping
      if (daemon != null) await Promise.race([daemon.exited, new Promise(resolve => setTimeout(resolve, 10_000))])
    }
  })

  it('relay names remove exits too', async () => {
    await check({ args: ['--config', mesh.relay.config, 'relay', 'names', 'remove', 'home.grewal'], out: /removed home\.grewal/ })
  })
})
