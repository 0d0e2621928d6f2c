import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  addAuthorizedKey, createAuthorizedKeys, formatProblems, parseAuthorizedKeys, removeAuthorizedKey, writeFileAtomic
} from '../../src/index.js'

async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

/** Wait (bounded) for `cond`. */
async function until (cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('authorized_keys parsing', () => {
  it('ignores blank and # lines, keeps comments and line numbers', async () => {
    const a = await newPeerId()
    const b = await newPeerId()
    const text = [
      '# peers allowed to connect',
      '',
      '   ',
      `${a}  # alice laptop`,
      `  ${b} expires=2999-01-31T00:00:00Z   #   bob  `,
      '#' + a
    ].join('\n')
    const parsed = parseAuthorizedKeys(text, 'ak')
    assert.deepEqual(parsed.problems, [])
    assert.equal(parsed.entries.length, 2)
    assert.equal(parsed.entries[0].peerId, a)
    assert.equal(parsed.entries[0].comment, 'alice laptop')
    assert.equal(parsed.entries[0].line, 4)
    assert.equal(parsed.entries[0].expires, undefined)
    assert.equal(parsed.entries[1].peerId, b)
    assert.equal(parsed.entries[1].comment, 'bob')
    assert.equal(parsed.entries[1].line, 5)
    assert.equal(parsed.entries[1].expires?.toISOString(), '2999-01-31T00:00:00.000Z')
  })

  it('handles CRLF line endings', async () => {
    const a = await newPeerId()
    const parsed = parseAuthorizedKeys(`# x\r\n${a}\r\n`)
    assert.equal(parsed.entries.length, 1)
    assert.equal(parsed.entries[0].peerId, a)
    assert.equal(parsed.problems.length, 0)
  })

  it('a bad line grants nothing and is reported with its line number', async () => {
    const good = await newPeerId()
    const badAttr = await newPeerId()
    const badExp = await newPeerId()
    const malformed = await newPeerId()
    const text = [
      '# header',
      'not-a-peer-id  # oops',
      `${badAttr} from=10.0.0.1`,
      `${badExp} expires=tomorrow`,
      `${good}`,
      `${malformed} expires`,
      `${badExp} expires=2027-13-45T00:00:00Z`,
      `${badExp} expires=2027-01-31`
    ].join('\n')
    const parsed = parseAuthorizedKeys(text, '/etc/peerup/authorized_keys')
    assert.deepEqual(parsed.entries.map(e => e.peerId), [good])
    assert.deepEqual(parsed.problems.map(p => p.line), [2, 3, 4, 6, 7, 8])
    assert.match(parsed.problems[0].message, /invalid peer ID "not-a-peer-id"/)
    assert.match(parsed.problems[1].message, /unknown attribute "from"/)
    assert.match(parsed.problems[2].message, /expires="tomorrow" is not an RFC3339 time/)
    assert.match(parsed.problems[3].message, /malformed attribute "expires"/)
    const lines = formatProblems(parsed.problems)
    assert.equal(lines[0].startsWith('/etc/peerup/authorized_keys:2: '), true)
    assert.equal(lines[1].startsWith('/etc/peerup/authorized_keys:3: '), true)
  })

  it('a peer on both a good and a bad line is granted only by the good line', async () => {
    const a = await newPeerId()
    const parsed = parseAuthorizedKeys(`${a} bogus=1\n`)
    assert.equal(parsed.entries.length, 0)
    assert.equal(parsed.problems.length, 1)
  })
})

describe('authorized_keys file: reload and change events', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-unit-ak-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('a missing file grants nothing', async () => {
    const ak = createAuthorizedKeys({ file: join(dir, 'missing'), watch: false })
    assert.equal(ak.isAuthorized(await newPeerId()), false)
    assert.deepEqual(ak.entries(), [])
    ak.close()
  })

  it('refuses a group/world-readable file at first load', () => {
    const file = join(dir, 'open_keys')
    writeFileSync(file, '# nothing\n', { mode: 0o644 })
    chmodSync(file, 0o644)
    assert.throws(() => createAuthorizedKeys({ file, watch: false }), (err: any) => {
      assert.equal(err.name, 'InsecurePermissionsError')
      assert.match(err.message, new RegExp(`chmod 600 ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
      return true
    })
  })

  it('reload() emits change with the revoked peers', async () => {
    const a = await newPeerId()
    const b = await newPeerId()
    const c = await newPeerId()
    const file = join(dir, 'reload_keys')
    writeFileAtomic(file, `${a}\n${b} # bob\n`, { mode: 0o600 })
    const ak = createAuthorizedKeys({ file, watch: false })
    assert.equal(ak.isAuthorized(a), true)
    assert.equal(ak.isAuthorized(b), true)
    assert.equal(ak.isAuthorized(c), false)
    const events: Array<{ revoked: string[] }> = []
    ak.on('change', e => events.push(e))
    writeFileAtomic(file, `${b} # bob\n${c}\n`, { mode: 0o600 })
    ak.reload()
    assert.deepEqual(events, [{ revoked: [a] }])
    assert.equal(ak.isAuthorized(a), false)
    assert.equal(ak.isAuthorized(b), true)
    assert.equal(ak.isAuthorized(c), true)
    ak.close()
  })

  it('a reload that finds an unsafe mode denies everyone (fail closed)', async () => {
    const a = await newPeerId()
    const file = join(dir, 'chmod_keys')
    writeFileAtomic(file, `${a}\n`, { mode: 0o600 })
    const ak = createAuthorizedKeys({ file, watch: false })
    assert.equal(ak.isAuthorized(a), true)
    const events: Array<{ revoked: string[] }> = []
    ak.on('change', e => events.push(e))
    chmodSync(file, 0o644)
    ak.reload()
    assert.equal(ak.isAuthorized(a), false)
    assert.deepEqual(events, [{ revoked: [a] }])
    assert.equal(ak.problems().length, 1)
    assert.match(ak.problems()[0].message, /chmod 600/)
    chmodSync(file, 0o600)
    ak.reload()
    assert.equal(ak.isAuthorized(a), true)
    ak.close()
  })

  it('the watcher picks up an atomic rewrite and reports the revocation', async () => {
    const a = await newPeerId()
    const b = await newPeerId()
    const file = join(dir, 'watched_keys')
    writeFileAtomic(file, `${a}\n${b}\n`, { mode: 0o600 })
    const ak = createAuthorizedKeys({ file, pollInterval: 50 })
    try {
      const events: Array<{ revoked: string[] }> = []
      ak.on('change', e => events.push(e))
      assert.equal(removeAuthorizedKey(file, a), true)
      await until(() => events.length > 0, 15_000)
      assert.deepEqual(events[0].revoked, [a])
      assert.equal(ak.isAuthorized(a), false)
      assert.equal(ak.isAuthorized(b), true)
    } finally {
      ak.close()
    }
  })

  it('expiry is checked at call time', async () => {
    const a = await newPeerId()
    const b = await newPeerId()
    const file = join(dir, 'expiring_keys')
    const past = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z')
    const soon = new Date(Date.now() + 1500).toISOString()
    writeFileAtomic(file, `${a} expires=${past}\n${b} expires=${soon}\n`, { mode: 0o600 })
    const ak = createAuthorizedKeys({ file, watch: false })
    assert.equal(ak.isAuthorized(a), false)
    assert.equal(ak.isAuthorized(b), true)
    await until(() => !ak.isAuthorized(b), 15_000)
    ak.close()
  })

  it('add/remove keep other lines and comments, write 0600, and are idempotent', async () => {
    const a = await newPeerId()
    const b = await newPeerId()
    const file = join(dir, 'edit_keys')
    const original = `# my peers\n${a}  # alice\n\n# trailing note\n`
    writeFileAtomic(file, original, { mode: 0o600 })
    assert.equal(addAuthorizedKey(file, b, { comment: 'bob\nsneaky', expires: '2999-01-01T00:00:00Z' }), true)
    assert.equal(addAuthorizedKey(file, b), false)
    const text = readFileSync(file, 'utf8')
    assert.equal(text, original + `${b} expires=2999-01-01T00:00:00Z  # bob sneaky\n`)
    const parsed = parseAuthorizedKeys(text)
    assert.deepEqual(parsed.entries.map(e => e.peerId), [a, b])
    assert.equal(parsed.problems.length, 0)
    assert.equal(removeAuthorizedKey(file, b), true)
    assert.equal(removeAuthorizedKey(file, b), false)
    assert.equal(readFileSync(file, 'utf8'), original)
    assert.throws(() => addAuthorizedKey(file, 'nope'), { name: 'InvalidPeerIdError' })
  })
})
