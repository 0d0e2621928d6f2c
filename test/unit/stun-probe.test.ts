import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket } from 'node:dgram'
import { checkStunServers, createStunServer, stunCheckProblem, type StunServer } from '../../src/index.js'
import { bindingResponse, parseBindingRequest } from '../../src/relay/stun-server.js'
import { parseBindingSuccess } from '../../src/paths/stun-probe.js'

/** Bind a UDP socket on loopback. */
async function udp (host: string, port = 0): Promise<Socket> {
  const s = createSocket('udp4')
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(port, host, () => { resolve() }) })
  return s
}

describe('node-side STUN check', () => {
  let server: StunServer
  const sockets: Socket[] = []
  before(async () => { server = await createStunServer({ port: 0, host: '127.0.0.1' }) })
  after(async () => {
    await server?.close()
    for (const s of sockets) s.close()
  })

  it('a server that answers from the address asked: ok, with our mapped address', async () => {
    const [c] = await checkStunServers([`stun:127.0.0.1:${server.port}`], { bindAddress: '127.0.0.1' })
    assert.equal(c.ok, true, JSON.stringify(c))
    assert.equal(c.problem, undefined)
    assert.equal(c.address, `127.0.0.1:${server.port}`)
    assert.equal(c.from, `127.0.0.1:${server.port}`)
    assert.match(c.mapped ?? '', /^127\.0\.0\.1:\d+$/)
    assert.equal(stunCheckProblem([c]), undefined)
  })

  it('an answer from another address than the one asked (a multi-homed relay on a wildcard socket): says so and what to do', async () => {
    // hears on 127.0.0.1, answers from 127.0.0.2 on the same port: what a 0.0.0.0 socket does when the route's source differs
    const ear = await udp('127.0.0.1')
    const port = ear.address().port
    const mouth = await udp('127.0.0.2', port)
    sockets.push(ear, mouth)
    ear.on('message', (msg, rinfo) => {
      const req = parseBindingRequest(msg)
      if (req != null) mouth.send(bindingResponse(req, rinfo.address, rinfo.port), rinfo.port, rinfo.address)
    })
    const checks = await checkStunServers([`stun:127.0.0.1:${port}`], { bindAddress: '127.0.0.1', timeoutMs: 1000 })
    assert.equal(checks[0].ok, false)
    assert.equal(checks[0].from, `127.0.0.2:${port}`)
    const problem = stunCheckProblem(checks) ?? ''
    assert.match(problem, new RegExp(`came from 127\\.0\\.0\\.2:${port}, not from 127\\.0\\.0\\.1:${port}`))
    assert.match(problem, /relay\.stun\.host/, 'names the setting to fix')
  })

  it('no answer at all: says so within the timeout, and names the likely causes', async () => {
    const silent = await udp('127.0.0.1')
    sockets.push(silent)
    const t0 = Date.now()
    const checks = await checkStunServers([`stun:127.0.0.1:${silent.address().port}`], { bindAddress: '127.0.0.1', timeoutMs: 700 })
    assert.ok(Date.now() - t0 < 2000, 'bounded by the timeout')
    assert.equal(checks[0].ok, false)
    assert.match(checks[0].problem ?? '', new RegExp(`^no STUN answer from stun:127\\.0\\.0\\.1:${silent.address().port} within 0\\.7 s`))
    assert.match(checks[0].problem ?? '', /blocked|another of its addresses/)
  })

  it('decodes IPv4 and IPv6 Binding successes and ignores other transactions', () => {
    const txid = Buffer.alloc(12, 7)
    assert.deepEqual(parseBindingSuccess(bindingResponse({ transactionId: txid }, '198.51.100.2', 40000), txid), { ip: '198.51.100.2', port: 40000 })
    assert.deepEqual(parseBindingSuccess(bindingResponse({ transactionId: txid }, '2001:db8::1', 5), txid), { ip: '2001:db8::1', port: 5 })
    assert.equal(parseBindingSuccess(bindingResponse({ transactionId: Buffer.alloc(12, 8) }, '198.51.100.2', 1), txid), undefined)
    assert.equal(parseBindingSuccess(Buffer.alloc(10), txid), undefined)
  })
})
