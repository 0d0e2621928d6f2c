import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { lstatSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { queryStatusSocket, serveStatusSocket } from '../../src/index.js'

describe('relay status socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-status-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('answers each query with the current status, on a 0600 socket', async () => {
    const file = join(dir, 'a.sock')
    let n = 0
    const s = await serveStatusSocket({ file, describe: () => ({ n: ++n }) })
    try {
      assert.equal(statSync(file).mode & 0o777, 0o600)
      assert.deepEqual(await queryStatusSocket(file), { n: 1 })
      assert.deepEqual(await queryStatusSocket(file), { n: 2 })
    } finally {
      await s.close()
    }
  })

  it('a query with no relay running is UnreachableError', async () => {
    await assert.rejects(queryStatusSocket(join(dir, 'none.sock')), { name: 'UnreachableError' })
  })

  it('refuses a path that is not a socket, and leaves it alone', async () => {
    const file = join(dir, 'not-a-socket')
    writeFileSync(file, 'precious')
    await assert.rejects(serveStatusSocket({ file, describe: () => ({}) }), { name: 'ConfigError' })
    assert.equal(readFileSync(file, 'utf8'), 'precious')
  })

  it('replaces a stale socket file (a killed relay\'s), but not a live relay\'s socket', async () => {
    const file = join(dir, 'b.sock')
    // a process that listens and is then SIGKILLed leaves its socket file behind
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`])
    assert.ok(lstatSync(file).isSocket(), 'a stale socket file exists')
    const s = await serveStatusSocket({ file, describe: () => ({ ok: true }) })
    try {
      assert.deepEqual(await queryStatusSocket(file), { ok: true })
      await assert.rejects(serveStatusSocket({ file, describe: () => ({}) }), /another relay answers/)
    } finally {
      await s.close()
    }
  })

  it('an error while describing is answered, not thrown', async () => {
    const file = join(dir, 'c.sock')
    const s = await serveStatusSocket({ file, describe: () => { throw new Error('boom') } })
    try {
      assert.deepEqual(await queryStatusSocket(file), { error: 'boom' })
    } finally {
      await s.close()
    }
  })
})
