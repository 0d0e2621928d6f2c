import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createAllowLists } from '../../src/index.js'
import { rateLimited } from '../../cli/rate-limit.js'

async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

describe('allow-lists with a changing service mapping', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-lists-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('a service gets its own list, loses it, and an unsafe new file grants nothing (without throwing)', async () => {
    const [laptop, friend] = [await newPeerId(), await newPeerId()]
    const global = join(dir, 'authorized_keys')
    const web = join(dir, 'web_authorized_keys')
    const files = join(dir, 'files_authorized_keys')
    writeFileSync(global, `${laptop}  # laptop\n`, { mode: 0o600 })
    writeFileSync(web, `${friend}  # friend\n`, { mode: 0o600 })
    writeFileSync(files, `${friend}\n`, { mode: 0o644 })
    const lists = createAllowLists({ globalFile: global, pollInterval: 50 })
    const events: string[][] = []
    lists.on('change', (e) => { events.push(e.changes) })
    try {
      assert.equal(lists.isAuthorized(laptop, 'web'), true)
      assert.equal(lists.isAllowedAnywhere(friend), false)

      assert.deepEqual(lists.setServices({ web }), ['service web now uses its own list web_authorized_keys'])
      assert.deepEqual(events.at(-1), ['service web now uses its own list web_authorized_keys'])
      assert.equal(lists.isAuthorized(laptop, 'web'), false)
      assert.equal(lists.isAuthorized(friend, 'web'), true)
      assert.equal(lists.isAuthorized(laptop, 'ssh'), true, 'other services keep the global list')
      assert.equal(lists.isAllowedAnywhere(friend), true)
      assert.deepEqual(lists.servicesAllowing(friend), ['web'])
      assert.equal(lists.comment(friend), 'friend')
      assert.equal(lists.summary(), 'global authorized_keys (1 peer); web: web_authorized_keys (1 peer)')
      // the same mapping again is no change
      assert.deepEqual(lists.setServices({ web }), [])

      // web's list goes away (closed: it grants nothing any more); files' file is unsafe
      assert.deepEqual(lists.setServices({ files }), ['service files now uses its own list files_authorized_keys', 'service web now uses the global list'])
      assert.equal(lists.isAllowedAnywhere(friend), false, 'an unsafe file grants nothing, and web\'s list is gone')
      assert.equal(lists.isAuthorized(laptop, 'web'), true)
      assert.equal(lists.isAuthorized(laptop, 'files'), false)
      assert.match(lists.summary(), /files: files_authorized_keys \(0 peers; grants nothing: .*files_authorized_keys has mode 0644.*chmod 600/)
    } finally {
      lists.close()
    }
  })
})

describe('rate-limited reports', () => {
  it('one line per key per window, then the count of the ones left out', async () => {
    const lines: string[] = []
    const report = rateLimited(l => lines.push(l), 100)
    report('a web', 'denied a web #1')
    report('a web', 'denied a web #2')
    report('a web', 'denied a web #3')
    report('b web', 'denied b web #1')
    assert.deepEqual(lines, ['denied a web #1', 'denied b web #1'])
    await new Promise(resolve => setTimeout(resolve, 150))
    assert.deepEqual(lines, ['denied a web #1', 'denied b web #1', 'denied a web #3 (2 more in the last 100 ms)'])
    // after a quiet window the next one is printed at once
    await new Promise(resolve => setTimeout(resolve, 150))
    report('a web', 'denied a web #4')
    assert.equal(lines.at(-1), 'denied a web #4')
  })
})
