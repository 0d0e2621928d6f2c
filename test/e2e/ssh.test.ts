/**
 * Real OpenSSH through peerup: a throwaway sshd on loopback is the home's
 * "ssh" service; the real ssh/scp clients reach it as root@home.grewal with
 * `peerup nc` as ProxyCommand, the name resolving through the relay.
 * Needs /usr/sbin/sshd, ssh, scp and ssh-keygen (CI's .ci/run installs
 * openssh-server and openssh-client); this file installs nothing.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { removeNameFromFile } from '../../src/index.js'
import { Harness, startMesh, echoServer, freePort, payload, sha256, PEERUP, type Mesh } from '../fixtures/mesh.js'

const SSHD = '/usr/sbin/sshd'

interface CmdResult { code: number | string, stdout: string, stderr: string, ms: number }

/** Run a program to completion (bounded: SIGKILL after `timeoutMs`). */
async function runCmd (bin: string, args: string[], options: { timeoutMs?: number, env?: NodeJS.ProcessEnv } = {}): Promise<CmdResult> {
  const started = performance.now()
  const child = spawn(bin, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => { stderr += `\n[killed after ${options.timeoutMs ?? 30_000} ms]`; child.kill('SIGKILL') }, options.timeoutMs ?? 30_000)
  const code = await new Promise<number | string>(resolve => {
    child.on('error', (err) => { stderr += `\n[spawn error: ${err.message}]`; resolve(-1) })
    child.on('exit', (c, s) => { resolve(c ?? s ?? -1) })
  })
  clearTimeout(timer)
  await new Promise(resolve => setImmediate(resolve))
  return { code, stdout, stderr, ms: performance.now() - started }
}

/** Quote a word for the shell ssh runs ProxyCommand with. */
const shq = (s: string): string => /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[Math.floor(s.length / 2)]) }

describe('real OpenSSH through peerup (ProxyCommand, port mapping, scp, ssh-config)', () => {
  const h = new Harness()
  let mesh: Mesh
  let sshd: ChildProcess | undefined
  let sshdLog = ''
  let sshdPort = 0
  let dir = ''
  let userKey = ''
  const user = userInfo().username
  const numbers: Record<string, unknown> = {}
  // the environment of ssh/scp: no agent, so only the throwaway key is offered
  const env: NodeJS.ProcessEnv = { ...process.env, PEERUP_VERBOSE: '1' }
  delete env.SSH_AUTH_SOCK

  const killSshd = (): void => { if (sshd != null && sshd.exitCode == null && sshd.signalCode == null) sshd.kill('SIGKILL') }
  process.once('exit', killSshd)

  /** `ProxyCommand` running the built CLI with the client's config. */
  const proxyCommand = (...ncArgs: string[]): string =>
    [process.execPath, PEERUP, '--config', mesh.client.config, 'nc', ...ncArgs].map(a => a.startsWith('%') ? a : shq(a)).join(' ')
  /** Common client options: throwaway key, no known_hosts, never prompt. */
  const clientOpts = (): string[] => [
    '-F', '/dev/null', '-i', userKey,
    '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=20'
  ]
  const ssh = async (args: string[], timeoutMs = 30_000): Promise<CmdResult> => await runCmd('ssh', args, { env, timeoutMs })
  const scp = async (args: string[], timeoutMs = 90_000): Promise<CmdResult> => await runCmd('scp', args, { env, timeoutMs })

  before(async () => {
    assert.ok(existsSync(SSHD), `${SSHD} is missing: install openssh-server (CI's .ci/run does)`)
    dir = join(h.root, 'sshd')
    mkdirSync(dir, { mode: 0o700 })
    for (const k of ['host_ed25519', 'user_ed25519']) {
      const r = await runCmd('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `peerup-test-${k}`, '-f', join(dir, k)], { timeoutMs: 15_000 })
      assert.equal(r.code, 0, `ssh-keygen: ${r.stderr}`)
    }
    userKey = join(dir, 'user_ed25519')
    copyFileSync(`${userKey}.pub`, join(dir, 'authorized_keys'))
    sshdPort = await freePort()
    const cfg = join(dir, 'sshd_config')
    writeFileSync(cfg, [
      `ListenAddress 127.0.0.1:${sshdPort}`,
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `AllowUsers ${user}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'StrictModes no',
      'UsePAM no',
      // built into sshd, so scp's default SFTP mode needs no sftp-server path
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      ''
    ].join('\n'), { mode: 0o600 })
    // as root, sshd insists on its privilege-separation directory; it is a
    // runtime dir (normally made by the service unit), not something to install
    if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 })

    const child = spawn(SSHD, ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] })
    sshd = child
    child.stderr!.on('data', (d: Buffer) => { sshdLog += d.toString() })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`sshd did not start: ${sshdLog}`)) }, 10_000)
      const check = (): void => {
        if (sshdLog.includes(`Server listening on 127.0.0.1 port ${sshdPort}`)) { clearTimeout(timer); resolve() }
      }
      child.stderr!.on('data', check)
      child.once('exit', (c, s) => { clearTimeout(timer); reject(new Error(`sshd exited (${c ?? s}): ${sshdLog}`)) })
      child.once('error', (err) => { clearTimeout(timer); reject(err) })
    })

    const echo = await echoServer(h)
    mesh = await startMesh(h, {
      // a second service, so the port mapping has to pick the right one
      services: { ssh: sshdPort, echo: echo.port },
      directAddr: false,
      // no names-file entry on the client: home.grewal resolves through the relay registry
      beforeStart: ({ client }) => { removeNameFromFile(join(client.dir, 'names.yaml'), 'home.grewal') }
    })
  })

  after(async () => {
    killSshd()
    if (sshd != null && sshd.exitCode == null && sshd.signalCode == null) {
      await Promise.race([new Promise(resolve => sshd!.once('exit', resolve)), new Promise(resolve => setTimeout(resolve, 3000))])
    }
    process.off('exit', killSshd)
    console.log('# ssh numbers:', JSON.stringify(numbers))
    await h.cleanup()
  })

  it('home.grewal resolves through the relay registry (no names-file entry)', async () => {
    // the home registers after its reservation, so wait for the relay's registry first
    // (resolving too early would leave a negative answer in the client's cache)
    const deadline = Date.now() + 15_000
    let bound: string | undefined
    while (bound == null) {
      const list = await h.run(['--config', mesh.relay.config, 'relay', 'names', 'list', '--json'])
      assert.equal(list.code, 0, list.stderr)
      bound = (JSON.parse(list.stdout.toString()) as any[]).find(e => e.host === 'home' && e.network === 'grewal')?.peerId
      if (bound == null) {
        assert.ok(Date.now() < deadline, 'home.grewal never appeared in the relay registry')
        await new Promise(resolve => setTimeout(resolve, 250))
      }
    }
    assert.equal(bound, mesh.home.peerId)
    const r = await mesh.client$(['resolve', 'home.grewal', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const j = JSON.parse(r.stdout.toString())
    assert.equal(j.peerId, mesh.home.peerId)
    assert.equal(j.source, 'network')
    assert.equal(j.via, 'relay grewal')
    assert.equal(j.cached, false)
  })

  it('ssh with ProxyCommand "peerup nc %h ssh" runs a command on the real sshd', async () => {
    const before = (sshdLog.match(/Accepted publickey/g) ?? []).length
    const r = await ssh([...clientOpts(), '-o', `ProxyCommand=${proxyCommand('%h', 'ssh')}`, `${user}@home.grewal`, 'echo ok'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'ok\n')
    assert.match(r.stderr, new RegExp(`nc: home\\.grewal \\(${mesh.home.peerId}\\) ssh `))
    // the session really reached our sshd, authenticated with the throwaway key
    assert.equal((sshdLog.match(/Accepted publickey/g) ?? []).length, before + 1, sshdLog)
  })

  it('ssh -p 22 with "peerup nc %h %p": port 22 maps to the ssh service (sshd itself is on another port)', async () => {
    assert.notEqual(sshdPort, 22)
    const r = await ssh([...clientOpts(), '-p', '22', '-o', `ProxyCommand=${proxyCommand('%h', '%p')}`, `${user}@home.grewal`, 'echo ok'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'ok\n')
    assert.match(r.stderr, /nc: home\.grewal \(\S+\) 22 /)

    // a port with no service and no conventional mapping is refused with the list
    const bad = await ssh([...clientOpts(), '-p', '2', '-o', `ProxyCommand=${proxyCommand('%h', '%p')}`, `${user}@home.grewal`, 'echo ok'])
    assert.notEqual(bad.code, 0)
    assert.equal(bad.stdout, '')
    assert.match(bad.stderr, new RegExp(`home\\.grewal has no service for port 2; its services: .*ssh \\(port ${sshdPort}\\)`))
  })

  it('scp moves 32 MiB up (SFTP mode) and back down (legacy -O) through the tunnel, byte-exact', async () => {
    const data = payload(32 * 1024 * 1024)
    const local = join(dir, 'up.bin')
    const remote = join(dir, 'remote-copy.bin')
    const back = join(dir, 'down.bin')
    writeFileSync(local, data)
    const opts = [...clientOpts(), '-P', '22', '-o', `ProxyCommand=${proxyCommand('%h', '%p')}`]

    const up = await scp([...opts, local, `${user}@home.grewal:${remote}`])
    assert.equal(up.code, 0, up.stderr)
    assert.ok(existsSync(remote), 'scp wrote the remote file')
    assert.equal(sha256(readFileSync(remote)), sha256(data))
    numbers.scpUpMs = Math.round(up.ms)

    const down = await scp(['-O', ...opts, `${user}@home.grewal:${remote}`, back])
    assert.equal(down.code, 0, down.stderr)
    assert.equal(sha256(readFileSync(back)), sha256(data))
    numbers.scpDownLegacyMs = Math.round(down.ms)
    assert.match(sshdLog, /subsystem 'sftp'/, 'the upload used the SFTP subsystem')
  })

  it('the block printed by "peerup ssh-config" works as an ssh config file, also from a config dir named with a space, a quote and a %', async () => {
    // the same identity and files, in a directory whose name needs quoting in a ProxyCommand
    const odd = join(dir, "it's 100% mine")
    cpSync(mesh.client.dir, odd, { recursive: true })
    const r = await mesh.h.run(['--config', join(odd, 'config.yaml'), 'ssh-config'])
    assert.equal(r.code, 0, r.stderr)
    const text = r.stdout.toString()
    assert.match(text, /^Host \*\.grewal(\s|$)/m)
    const pc = text.match(/^\s+ProxyCommand (.+)$/m)
    assert.ok(pc != null, text)
    assert.match(pc[1], /--config '.+100%% mine\/config\.yaml' nc %h %p$/)
    const file = join(dir, 'ssh_config')
    writeFileSync(file, text, { mode: 0o600 })
    // appended lines belong to the Host *.grewal block
    appendFileSync(file, [
      `    IdentityFile ${userKey}`,
      '    IdentitiesOnly yes',
      '    StrictHostKeyChecking no',
      '    UserKnownHostsFile /dev/null',
      '    BatchMode yes',
      '    LogLevel ERROR',
      ''
    ].join('\n'))
    const s = await ssh(['-F', file, `${user}@home.grewal`, 'echo ok'])
    assert.equal(s.code, 0, `${s.stderr}\n--- config:\n${readFileSync(file, 'utf8')}`)
    assert.equal(s.stdout, 'ok\n')
  })

  it('ssh-config: the config found by search is written as an absolute --config; <host>.grewal and <host>.grewal.p2p share one known_hosts entry; a changed key still fails', { timeout: 120_000 }, async () => {
    // found through $PEERUP_HOME, from another directory: ssh runs the ProxyCommand from anywhere, maybe without that variable
    const r = await mesh.h.run(['ssh-config'], { env: { PEERUP_HOME: mesh.client.dir } })
    assert.equal(r.code, 0, r.stderr)
    const text = r.stdout.toString()
    const pc = text.match(/^\s+ProxyCommand (.+)$/m)
    assert.ok(pc != null, text)
    assert.ok(pc[1].endsWith(` --config ${mesh.client.config} nc %h %p`), pc[1])
    assert.match(text, /^Host \*\.grewal \*\.grewal\.p2p$/m)

    const home = join(dir, 'kh-home')
    mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 })
    const knownHosts = join(home, '.ssh', 'known_hosts')
    const file = join(dir, 'ssh_config_kh')
    writeFileSync(file, text + [
      `    IdentityFile ${userKey}`,
      '    IdentitiesOnly yes',
      `    UserKnownHostsFile ${knownHosts}`,
      '    BatchMode yes',
      '    LogLevel ERROR',
      ''
    ].join('\n'), { mode: 0o600 })
    // the KnownHostsCommand reads ~/.ssh/known_hosts of $HOME (ssh itself takes ~ from passwd, hence UserKnownHostsFile)
    const khEnv = { ...env, HOME: home }
    const sshKh = async (host: string, strict: string): Promise<CmdResult> =>
      await runCmd('ssh', ['-F', file, '-o', `StrictHostKeyChecking=${strict}`, `${user}@${host}`, 'echo ok'], { env: khEnv, timeoutMs: 30_000 })
    const entries = (): string[] => readFileSync(knownHosts, 'utf8').split('\n').filter(l => l.trim() !== '')

    const first = await sshKh('home.grewal', 'accept-new')
    assert.equal(first.code, 0, first.stderr)
    assert.equal(first.stdout, 'ok\n')
    assert.equal(entries().length, 1)
    // the .p2p form is a known host now: strict checking passes, and nothing is added
    const second = await sshKh('home.grewal.p2p', 'yes')
    assert.equal(second.code, 0, `${second.stderr}\n--- known_hosts:\n${readFileSync(knownHosts, 'utf8')}`)
    assert.equal(second.stdout, 'ok\n')
    assert.deepEqual(entries().map(l => l.split(' ')[0]), ['home.grewal'])

    // the other way round, with hashed names: learnt as .p2p, then used as the plain name
    writeFileSync(knownHosts, '', { mode: 0o600 })
    const hashed = await runCmd('ssh', ['-F', file, '-o', 'HashKnownHosts=yes', '-o', 'StrictHostKeyChecking=accept-new', `${user}@home.grewal.p2p`, 'echo ok'], { env: khEnv, timeoutMs: 30_000 })
    assert.equal(hashed.code, 0, hashed.stderr)
    assert.match(entries()[0], /^\|1\|/)
    const plain = await sshKh('home.grewal', 'yes')
    assert.equal(plain.code, 0, plain.stderr)
    assert.equal(entries().length, 1)

    // a different key on file for the plain name: the .p2p form is refused as a changed host key, not learnt anew
    const other = join(dir, 'other_host_ed25519')
    const kg = await runCmd('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other], { timeoutMs: 15_000 })
    assert.equal(kg.code, 0, kg.stderr)
    writeFileSync(knownHosts, `home.grewal ${readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`, { mode: 0o600 })
    const changed = await sshKh('home.grewal.p2p', 'accept-new')
    assert.equal(changed.code, 255, changed.stderr)
    assert.equal(changed.stdout, '')
    assert.equal(entries().length, 1)
  })

  it('measures ssh … true: via peerup (auto and forced relay) vs straight to sshd', async () => {
    const runs = 3
    const via: number[] = []
    const relayed: number[] = []
    const straight: number[] = []
    let autoPath = ''
    for (let i = 0; i < runs; i++) {
      const a = await ssh([...clientOpts(), '-o', `ProxyCommand=${proxyCommand('%h', 'ssh')}`, `${user}@home.grewal`, 'true'])
      assert.equal(a.code, 0, a.stderr)
      autoPath = a.stderr.match(/nc: .* ssh (.*)$/m)?.[1] ?? ''
      via.push(a.ms)
      const r = await ssh([...clientOpts(), '-o', `ProxyCommand=${proxyCommand('--path', 'relay', '%h', 'ssh')}`, `${user}@home.grewal`, 'true'])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stderr, /nc: home\.grewal \(\S+\) ssh relayed via /)
      relayed.push(r.ms)
      const d = await ssh([...clientOpts(), '-p', String(sshdPort), `${user}@127.0.0.1`, 'true'])
      assert.equal(d.code, 0, d.stderr)
      straight.push(d.ms)
    }
    Object.assign(numbers, {
      sshTrueAutoMedianMs: median(via),
      sshTrueAutoPath: autoPath,
      sshTrueRelayMedianMs: median(relayed),
      sshTrueStraightMedianMs: median(straight)
    })
  })
})
