/**
 * The block `peerup ssh-config` prints, with and without KnownHostsCommand
 * support, and its KnownHostsCommand script run by /bin/sh as ssh would
 * (real OpenSSH runs it all in test/e2e/ssh.test.ts).
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { KNOWN_HOSTS_COMMAND, sshConfigBlock } from '../../cli/ssh-config.js'

describe('peerup ssh-config block', () => {
  const init = { network: 'grewal', peerup: 'peerup', configFile: '/home/me/.config/peerup/config.yaml' }
  it('always names the config; with KnownHostsCommand both forms of a name share one entry', () => {
    const lines = sshConfigBlock({ ...init, knownHostsCommand: true })
    assert.ok(lines.includes('Host *.grewal *.grewal.p2p'))
    assert.ok(lines.includes('    ProxyCommand peerup --config /home/me/.config/peerup/config.yaml nc %h %p'))
    const khc = lines.find(l => l.startsWith('    KnownHostsCommand /bin/sh -c '))
    assert.ok(khc != null)
    // ssh expands % and ${ in each word, and would refuse unknown ones
    assert.ok(khc.endsWith(' peerup-known-hosts %H'))
    assert.doesNotMatch(khc.replace(/ %H$/, ''), /%|\$\{/)
  })
  it('without KnownHostsCommand (OpenSSH < 8.5): one pattern, so one known_hosts entry per host', () => {
    const lines = sshConfigBlock({ ...init, knownHostsCommand: false })
    assert.ok(lines.includes('Host *.grewal'))
    assert.ok(!lines.some(l => l.includes('.p2p') && l.startsWith('Host')))
    assert.ok(!lines.some(l => l.includes('KnownHostsCommand') && !l.startsWith('#')))
  })
})

describe('the KnownHostsCommand script', () => {
  // the script is the double-quoted word; ssh runs /bin/sh -c <script> peerup-known-hosts <%H>
  const script = KNOWN_HOSTS_COMMAND.slice(KNOWN_HOSTS_COMMAND.indexOf('"') + 1, KNOWN_HOSTS_COMMAND.lastIndexOf('"'))
  const home = mkdtempSync(join(tmpdir(), 'peerup-khc-'))
  mkdirSync(join(home, '.ssh'))
  writeFileSync(join(home, '.ssh', 'known_hosts'), ['home.grewal ssh-ed25519 AAAAPLAIN', '[home.grewal]:2222 ssh-ed25519 AAAAPORT', 'nas.grewal.p2p ssh-ed25519 AAAAP2P', ''].join('\n'))
  after(() => { rmSync(home, { recursive: true, force: true }) })
  const answer = (host: string): string => execFileSync('/bin/sh', ['-c', script, 'peerup-known-hosts', host], { env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 5000 })

  it('answers for one form of a name with the key of the other, under the name asked for', () => {
    assert.equal(answer('home.grewal.p2p'), 'home.grewal.p2p ssh-ed25519 AAAAPLAIN\n')
    assert.equal(answer('[home.grewal.p2p]:2222'), '[home.grewal.p2p]:2222 ssh-ed25519 AAAAPORT\n')
    assert.equal(answer('nas.grewal'), 'nas.grewal ssh-ed25519 AAAAP2P\n')
    assert.equal(answer('home.grewal'), '')
    assert.equal(answer('other.grewal.p2p'), '')
  })
  it('ignores names with characters no host name has (nothing runs)', () => {
    const marker = join(home, 'ran')
    for (const h of [`x;touch ${marker}`, `$(touch ${marker}).p2p`, 'a b.grewal.p2p', '*.grewal.p2p']) assert.equal(answer(h), '', h)
    assert.equal(existsSync(marker), false)
  })
})
