/**
 * A stock js-libp2p client (published packages, default options), in a real
 * `peerup daemon`'s authorized_keys, opens the home's service protocol
 * (`/peerup/<svc>/1.0.0`, no preamble: the stream is the TCP byte stream)
 * and pushes 64 MiB into a real TCP service while pulling 64 MiB back,
 * directly and through the peerup relay.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { addAuthorizedKey, editYamlFile } from '../../src/index.js'
import { Harness, payload, sha256, startMesh, tcpServer, type Mesh } from '../fixtures/mesh.js'
import { ResultQueue, writeAll } from '../fixtures/sockets.js'
import { createStockNode, exchangeOn } from '../fixtures/stock-libp2p.js'
import type { Libp2p } from '@libp2p/interface'

const MiB = 1024 * 1024
const DEADLINE = 60_000

/** What the TCP service saw on one connection. */
interface ServiceSide { bytes: number, sha256: string }

describe('stock js-libp2p client on a peerup home service', { timeout: 240_000 }, () => {
  const h = new Harness()
  const seen = new ResultQueue<ServiceSide>()
  let mesh: Mesh
  let client: Libp2p
  let reply: Buffer

  before(async () => {
    // the service: hash everything until FIN, send `reply` meanwhile, then FIN
    const service = await tcpServer(h, (s) => {
      seen.push(new Promise((resolve, reject) => {
        const hash = createHash('sha256')
        let bytes = 0
        s.on('data', (d: Buffer) => { hash.update(d); bytes += d.length })
        s.on('end', () => { resolve({ bytes, sha256: hash.digest('hex') }) })
        s.on('error', reject)
        writeAll(s, reply, DEADLINE).then(() => { s.end() }, reject)
      }))
    })
    const key = await generateKeyPair('Ed25519')
    const stockId = peerIdFromPrivateKey(key).toString()
    mesh = await startMesh(h, {
      services: { bulk: service.port },
      beforeStart: ({ relay, home }) => {
        addAuthorizedKey(join(relay.dir, 'authorized_keys'), stockId, { comment: 'stock client' })
        addAuthorizedKey(join(home.dir, 'authorized_keys'), stockId, { comment: 'stock client' })
        // loopback only: no STUN responder on 0.0.0.0
        editYamlFile(relay.config, doc => { doc.setIn(['relay', 'stun', 'enabled'], false) })
      }
    })
    client = await createStockNode({ privateKey: key })
  })
  after(async () => {
    await Promise.resolve(client?.stop()).catch(() => {})
    await h.cleanup()
  })

  for (const path of ['direct', 'relay'] as const) {
    it(`${path}: 64 MiB pushed into the service and 64 MiB pulled back at once, byte-exact`, { timeout: 120_000 }, async () => {
      const push = payload(64 * MiB)
      reply = payload(64 * MiB)
      const addr = path === 'direct' ? mesh.homeAddr : `${mesh.relayAddr}/p2p-circuit/p2p/${mesh.home.peerId}`
      // a fresh connection per path (libp2p would reuse the direct one)
      await client.hangUp(peerIdFromString(mesh.home.peerId))
      const connection = await client.dial(multiaddr(addr), { signal: AbortSignal.timeout(20_000) })
      assert.equal(connection.remoteAddr.toString().includes('/p2p-circuit'), path === 'relay', `connected ${path}: ${connection.remoteAddr.toString()}`)
      const stream = await connection.newStream('/peerup/bulk/1.0.0', { runOnLimitedConnection: true, signal: AbortSignal.timeout(DEADLINE) })
      const t0 = Date.now()
      const { received } = await exchangeOn(stream, push, DEADLINE, `stock client ${path}`)
      const service = await seen.next(DEADLINE, 'the TCP service saw the push')
      console.log(`stock client -> peerup home (${path}): 2 x 64 MiB in ${Date.now() - t0} ms`)
      assert.equal(service.bytes, push.length, 'the service received every pushed byte')
      assert.equal(service.sha256, sha256(push))
      assert.equal(received.bytes, reply.length, 'the client received the whole reply')
      assert.equal(received.sha256, sha256(reply))
    })
  }
})
