/**
 * `peerup auth list` and `peerup keytool list` are one listing: for the same
 * authorized_keys file (one good line, one bad) both print the same columns,
 * the same `--json`, and the same stderr line for the bad line.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync } from 'node:fs'
import { join } from 'node:path'
import { Harness, KEYTOOL, type NodeDir } from '../fixtures/mesh.js'

describe('auth list ≡ keytool list', { timeout: 60_000 }, () => {
  const h = new Harness()
  let home: NodeDir
  let other: NodeDir
  before(async () => {
    home = await h.initNode('home', 'home')
    other = await h.initNode('other', 'client')
    const add = await h.run(['--config', home.config, 'auth', 'add', other.peerId, '--comment', 'friend', '--expires', '2099-01-01T00:00:00Z'])
    assert.equal(add.code, 0, add.stderr)
    appendFileSync(join(home.dir, 'authorized_keys'), 'not-a-peer-id bad line\n')
  })
  after(async () => { await h.cleanup() })

  it('the same output, JSON and warnings from both commands and from peerup-keytool', async () => {
    const file = join(home.dir, 'authorized_keys')
    for (const json of [[], ['--json']]) {
      const a = await h.run(['--config', home.config, 'auth', 'list', ...json])
      const b = await h.run(['keytool', 'list', '--file', file, ...json])
      const c = await h.run(['list', '--file', file, ...json], { bin: KEYTOOL })
      for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr)
      assert.match(a.stdout.toString(), new RegExp(other.peerId))
      assert.match(a.stderr, /authorized_keys:\d+: .*\(line grants nothing\)/)
      assert.equal(b.stdout.toString(), a.stdout.toString())
      assert.equal(c.stdout.toString(), a.stdout.toString())
      assert.equal(b.stderr, a.stderr)
      assert.equal(c.stderr, a.stderr)
    }
  })
})
