import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { closeServer, listenOn } from '../../src/util/listen.js'

describe('listenOn', { timeout: 10_000 }, () => {
  it('resolves once bound, and closeServer waits for the close', async () => {
    const s = createServer()
    await listenOn(s, { port: 0, host: '127.0.0.1' })
    const addr = s.address()
    assert.ok(addr != null && typeof addr === 'object' && addr.port > 0)
    await closeServer(s)
    assert.equal(s.listening, false)
  })

  it('rejects with the listen error and leaves no error listener behind', async () => {
    const a = createServer()
    await listenOn(a, { port: 0, host: '127.0.0.1' })
    const b = createServer()
    try {
      const port = (a.address() as { port: number }).port
      await assert.rejects(listenOn(b, { port, host: '127.0.0.1' }), { code: 'EADDRINUSE' })
      assert.equal(b.listenerCount('error'), 0)
    } finally {
      await closeServer(a)
    }
  })
})
