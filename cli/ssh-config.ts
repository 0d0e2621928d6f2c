/**
 * The `~/.ssh/config` block that `peerup ssh-config` prints. Kept apart from
 * the command so a unit test can check the text without running ssh.
 */
import { spawnSync } from 'node:child_process'

/**
 * One word of an ssh `ProxyCommand` (run by the user's shell): single-quoted
 * when it holds anything but safe characters, and `%` doubled, since ssh
 * expands `%` tokens before the shell sees the line.
 */
export function proxyWord (word: string): string {
  const quoted = /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
  return quoted.replaceAll('%', '%%')
}

/**
 * A `KnownHostsCommand` that lets `<host>.<network>` and
 * `<host>.<network>.p2p` share one known_hosts entry: it looks the other form
 * of the name up in `~/.ssh/known_hosts` (hashed or not) and prints that
 * key under the name ssh asked for. A changed key still fails as usual.
 * `HostKeyAlias` cannot do this: it takes no `%` tokens (OpenSSH 9.2).
 *
 * ssh splits this line itself (no shell), expands `%` and `${` in each word,
 * and runs the first word by absolute path: so the script has no `%`, no
 * `${`, no `"` inside, and runs under `/bin/sh`. A name with any other
 * character than a host name's gets no answer (ssh then asks as usual).
 */
export const KNOWN_HOSTS_COMMAND = '/bin/sh -c "set -f; h=$1; ' +
  // only host-name characters (and [host]:port) go any further: nothing to split, glob or inject
  'case $h in *[!]A-Za-z0-9._:[-]*) exit 0 ;; esac; case $h in ' +
  "*.p2p|*.p2p]:*) a=$(echo $h | sed -e 's/\\.p2p$//' -e 's/\\.p2p]/]/') ;; " +
  "*]:*) a=$(echo $h | sed -e 's/]/.p2p]/') ;; " +
  '*) a=$h.p2p ;; esac; ' +
  "ssh-keygen -F $a -f ~/.ssh/known_hosts 2>/dev/null | awk -v h=$h '/^#/ {next} /^@/ {$2=h; print; next} NF {$1=h; print}'" +
  '" peerup-known-hosts %H'

/** Init of {@link sshConfigBlock}. */
export interface SshConfigInit {
  /** The network (`*.<network>`); without one, the block matches `*.p2p`. */
  network?: string
  /** The command that runs peerup, already quoted with {@link proxyWord}. */
  peerup: string
  /** Absolute path of the config the ProxyCommand must use. */
  configFile: string
  /** Whether the local ssh understands `KnownHostsCommand` (OpenSSH ≥ 8.5). */
  knownHostsCommand: boolean
}

/** The lines of the block. */
export function sshConfigBlock (init: SshConfigInit): string[] {
  const { network } = init
  const lines = [`# peerup: ssh user@<host>.${network ?? '<network>'} reaches the host's "ssh" service through the mesh`]
  const proxy = `    ProxyCommand ${init.peerup} --config ${proxyWord(init.configFile)} nc %h %p`
  if (network == null) {
    lines.push('Host *.p2p', proxy)
  } else if (init.knownHostsCommand) {
    lines.push(`# <host>.${network} and <host>.${network}.p2p share one known_hosts entry (KnownHostsCommand)`)
    lines.push(`Host *.${network} *.${network}.p2p`, proxy, `    KnownHostsCommand ${KNOWN_HOSTS_COMMAND}`)
  } else {
    // two names for one host would make two known_hosts entries, and this ssh has no KnownHostsCommand to join them
    lines.push(`# this ssh has no KnownHostsCommand (OpenSSH < 8.5): use <host>.${network}, not <host>.${network}.p2p`)
    lines.push(`Host *.${network}`, proxy)
  }
  lines.push('    ServerAliveInterval 30', '    ServerAliveCountMax 4')
  return lines
}

/** Whether the `ssh` on the PATH accepts `KnownHostsCommand` (asked with `ssh -G`, which connects nowhere). */
export function sshHasKnownHostsCommand (): boolean {
  const r = spawnSync('ssh', ['-G', '-F', '/dev/null', '-o', 'KnownHostsCommand=/bin/true', 'peerup.invalid'], { stdio: 'ignore', timeout: 5000 })
  return r.status === 0
}
