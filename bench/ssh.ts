/**
 * Throwaway OpenSSH and socat anchors on loopback: an sshd with its own
 * host/user keys in a temp dir, `ssh -L` forwarders, `ssh -W` cold starts,
 * and a `socat` TCP forwarder.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'
import { track, type Child } from './procs.js'

export const SSHD = '/usr/sbin/sshd'

/** Absolute path of a program on PATH, or undefined. */
export function which (prog: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(d, prog)
    if (existsSync(p)) return p
  }
  return undefined
}

async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Wait until `port` accepts a TCP connection (and, with `banner`, sends a line matching it). */
export async function waitPort (port: number, timeoutMs: number, banner?: RegExp): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>(resolve => {
      const s = connect({ host: '127.0.0.1', port })
      const t = setTimeout(() => { s.destroy(); resolve(false) }, 1000)
      s.on('error', () => { clearTimeout(t); resolve(false) })
      s.on('connect', () => {
        if (banner == null) { clearTimeout(t); s.destroy(); resolve(true); return }
        s.once('data', d => { clearTimeout(t); s.destroy(); resolve(banner.test(d.toString())) })
      })
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`port ${port} not ready after ${timeoutMs} ms`)
}

/** A running sshd and what a client needs to log in. */
export interface Sshd {
  proc: Child
  port: number
  user: string
  key: string
  version: string
}

/** Whether sshd and ssh exist here. */
export function sshAvailable (): boolean {
  return existsSync(SSHD) && which('ssh') != null && which('ssh-keygen') != null
}

/** Create keys (once per dir) and start `sshd -D` on 127.0.0.1:port. */
export async function startSshd (dir: string, port: number): Promise<Sshd> {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const hostKey = join(dir, 'host_ed25519')
  const key = join(dir, 'user_ed25519')
  for (const k of [hostKey, key]) {
    if (!existsSync(k)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'peerup-bench', '-f', k])
  }
  const authorized = join(dir, 'authorized_keys')
  writeFileSync(authorized, readFileSync(key + '.pub'), { mode: 0o600 })
  // sshd (as root) needs its privilege-separation directory
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 })
  const cfg = join(dir, `sshd_config_${port}`)
  writeFileSync(cfg, [
    'UsePAM no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    'PermitRootLogin prohibit-password',
    'AllowTcpForwarding yes',
    'X11Forwarding no',
    'PrintMotd no',
    'UseDNS no',
    'LogLevel ERROR',
    'MaxStartups 100:30:200',
    ''
  ].join('\n'))
  const proc = track('sshd', SSHD, [
    '-D', '-e', '-f', cfg, '-p', String(port),
    '-o', `HostKey=${hostKey}`,
    '-o', `AuthorizedKeysFile=${authorized}`,
    '-o', `PidFile=${join(dir, `sshd_${port}.pid`)}`,
    '-o', 'StrictModes=no',
    '-o', 'ListenAddress=127.0.0.1'
  ])
  try {
    await waitPort(port, 10_000, /^SSH-2\.0-/)
  } catch (err) {
    throw new Error(`sshd did not start: ${(err as Error).message}; stderr: ${proc.stderr()}`)
  }
  // ssh -V prints on stderr
  const v = spawnSync('ssh', ['-V'], { encoding: 'utf8' })
  return { proc, port, user: userInfo().username, key, version: `${v.stderr ?? ''}${v.stdout ?? ''}`.trim() }
}

/** Common client options: no config files, no host key checks, key only. */
export function sshClientArgs (sshd: Sshd, cipher?: string, logLevel = 'ERROR'): string[] {
  return [
    '-F', '/dev/null',
    '-p', String(sshd.port),
    '-i', sshd.key,
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', `LogLevel=${logLevel}`,
    ...(cipher != null ? ['-c', cipher] : [])
  ]
}

/** A running `ssh -N -L`. */
export interface SshForward {
  proc: Child
  localPort: number
  /** Cipher negotiated (from `ssh -v`). */
  cipher: string
}

/** Start `ssh -N -L 127.0.0.1:localPort:127.0.0.1:targetPort` and wait until it forwards. */
export async function startSshForward (sshd: Sshd, localPort: number, targetPort: number, cipher?: string): Promise<SshForward> {
  const args = [
    ...sshClientArgs(sshd, cipher, 'DEBUG1'),
    '-o', 'ExitOnForwardFailure=yes',
    '-N', '-L', `127.0.0.1:${localPort}:127.0.0.1:${targetPort}`,
    `${sshd.user}@127.0.0.1`
  ]
  const proc = track(`ssh -L ${cipher ?? 'default'}`, 'ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  await waitPort(localPort, 15_000).catch((err: Error) => { throw new Error(`ssh -L did not come up: ${err.message}; stderr: ${proc.stderr().slice(-2000)}`) })
  const m = /server->client cipher: (\S+)/.exec(proc.stderr())
  return { proc, localPort, cipher: m?.[1] ?? cipher ?? 'unknown' }
}

/** `ssh -W 127.0.0.1:port` argv (a cold ssh process that carries stdio to a port). */
export function sshStdioArgs (sshd: Sshd, targetPort: number): string[] {
  return [...sshClientArgs(sshd), '-W', `127.0.0.1:${targetPort}`, `${sshd.user}@127.0.0.1`]
}

/** `socat TCP-LISTEN:localPort,fork TCP:127.0.0.1:targetPort`, or undefined without socat. */
export async function startSocat (localPort: number, targetPort: number): Promise<Child | undefined> {
  const socat = which('socat')
  if (socat == null) return undefined
  const proc = track('socat', socat, [`TCP-LISTEN:${localPort},bind=127.0.0.1,fork,reuseaddr,backlog=4096`, `TCP:127.0.0.1:${targetPort}`])
  await waitPort(localPort, 5000)
  return proc
}
