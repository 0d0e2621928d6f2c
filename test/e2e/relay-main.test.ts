/**
 * The standalone relay entry (dist/relay/main.js) exits with the CLI's exit
 * codes (one table, cli/exit-codes.ts): a key file that is not a key, or a
 * config whose role is not relay, is a configuration error (2), as for
 * `peerup relay serve`.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Harness, type NodeDir } from '../fixtures/mesh.js'

const RELAY_MAIN = resolve(fileURLToPath(import.meta.url), '../../../relay/main.js')

describe('relay/main.js exit codes', { timeout: 60_000 }, () => {
  const h = new Harness()
  let relay: NodeDir
  let home: NodeDir
  before(async () => {
    relay = await h.initNode('relay', 'relay')
    home = await h.initNode('home', 'home')
  })
  after(async () => { await h.cleanup() })

  it('a home config: exit 2, as peerup relay serve', async () => {
    const main = await h.run(['--config', home.config], { bin: RELAY_MAIN })
    const cli = await h.run(['--config', home.config, 'relay', 'serve'])
    assert.equal(main.code, 2, main.stderr)
    assert.equal(cli.code, 2, cli.stderr)
    assert.match(main.stderr, /^peerup-relay: .*role is "home"/m)
  })

  it('a key file that is not a key: exit 2, as peerup relay serve', async () => {
    writeFileSync(join(relay.dir, 'identity.key'), 'not a key', { mode: 0o600 })
    const main = await h.run(['--config', relay.config], { bin: RELAY_MAIN })
    const cli = await h.run(['--config', relay.config, 'relay', 'serve'])
    assert.equal(cli.code, 2, cli.stderr)
    assert.equal(main.code, 2, main.stderr)
    assert.match(main.stderr, /^peerup-relay: .*not a libp2p private key/m)
  })
})
