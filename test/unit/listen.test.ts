import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'
import { bindUdp, closeServer, closeUdp, listenOn } from '../../src/util/listen.js'

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

describe('bindUdp', { timeout: 10_000 }, () => {
  it('binds, rejects a taken port with the bind error, and closes', async () => {
    const a = createSocket('udp4')
    await bindUdp(a, 0, '127.0.0.1')
    const b = createSocket('udp4')
    try {
      await assert.rejects(bindUdp(b, a.address().port, '127.0.0.1'), { code: 'EADDRINUSE' })
      assert.equal(b.listenerCount('error'), 0)
    } finally {
      b.close()
      await closeUdp(a)
    }
  })
})
