/**
 * The block `peerup ssh-config` prints, with and without KnownHostsCommand
 * support (real OpenSSH runs it in test/e2e/ssh.test.ts).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { sshConfigBlock } from '../../cli/ssh-config.js'

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
