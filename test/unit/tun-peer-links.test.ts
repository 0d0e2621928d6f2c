import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { encodeFrames } from '../../src/tun/packet-framing.js'
import { createPeerLinks, type PeerLinks, type PeerLinksInit } from '../../src/tun/peer-links.js'
import { fakeStream, settle, type FakeStream } from '../fixtures/tun.js'
import type { Stream } from '@libp2p/interface'

const A = 'peerA'
const B = 'peerB'

/** One frame holding one packet of `n` bytes of `fill`. */
function frame (fill: number, n = 20): Uint8Array {
  return encodeFrames([new Uint8Array(n).fill(fill)])
}

interface OpenCall {
  peerId: string
  signal: AbortSignal
  resolve: (stream: FakeStream, path?: string) => void
  reject: (err: Error) => void
}

/** Peer links whose opens the test settles by hand, with every callback recorded. */
function harness (init: PeerLinksInit = {}, honourAbort = true): {
  links: PeerLinks
  opens: OpenCall[]
  packets: Array<[string, number[]]>
  linked: Array<[string, string, boolean]>
  unreachable: Array<[string, string, Uint8Array[]]>
} {
  const opens: OpenCall[] = []
  const links = createPeerLinks(init, {
    open: async (peerId, { signal }) => await new Promise<{ stream: Stream, path: string }>((resolve, reject) => {
      // an open honours its signal, as connect-and-open does
      if (honourAbort) signal.addEventListener('abort', () => { reject(signal.reason) })
      opens.push({ peerId, signal, resolve: (s, path = 'direct') => { resolve({ stream: s.stream, path }) }, reject })
    })
  })
  const packets: Array<[string, number[]]> = []
  const linked: Array<[string, string, boolean]> = []
  const unreachable: Array<[string, string, Uint8Array[]]> = []
  links.onPacket = (peerId, p) => { packets.push([peerId, [...p]]) }
  links.onLink = (peerId, path, initiator) => { linked.push([peerId, path, initiator]) }
  links.onUnreachable = (peerId, err, queued) => { unreachable.push([peerId, err.message, queued]) }
  return { links, opens, packets, linked, unreachable }
}

describe('TUN peer links', () => {
  it('opens one link on first use, queues while it opens, then delivers in order and sends directly', async () => {
    const h = harness()
    const f = [frame(1), frame(2), frame(3, 1400)]
    for (const x of f) assert.equal(h.links.send(A, x), 'queued')
    assert.equal(h.opens.length, 1, 'a single open for the queued packets')
    assert.equal(h.opens[0].peerId, A)
    assert.equal((h.links.describe()[A] as any).opening, true)
    assert.equal((h.links.describe()[A] as any).queued, f.reduce((n, x) => n + x.length, 0))

    const s = fakeStream()
    h.opens[0].resolve(s, 'relayed via R')
    await settle()
    assert.deepEqual(s.sent, f)
    assert.deepEqual(h.linked, [[A, 'relayed via R', true]])

    const f4 = frame(4)
    assert.equal(h.links.send(A, f4), 'sent')
    assert.deepEqual(s.sent.at(-1), f4)
    assert.equal(h.opens.length, 1)
    const d = h.links.describe()[A] as any
    assert.equal(d.path, 'relayed via R')
    assert.equal(d.queued, 0)
    assert.equal(d.streams[0].status, 'open')
    assert.equal(d.streams[0].write, 'writable')
    h.links.closeAll()
  })

  it('reports a failed open with the queued frames, then refuses for retryInterval before trying again', async () => {
    const h = harness({ retryInterval: 60 })
    const f = [frame(1), frame(2)]
    for (const x of f) assert.equal(h.links.send(A, x), 'queued')
    h.opens[0].reject(new Error('no route to peer'))
    await settle()
    assert.deepEqual(h.unreachable, [[A, 'no route to peer', f]])
    assert.equal(h.links.send(A, frame(3)), 'unreachable')
    assert.equal(h.links.send(A, frame(3)), 'unreachable')
    assert.equal(h.opens.length, 1, 'no new open while refusing')
    assert.equal((h.links.describe()[A] as any).lastError, 'no route to peer')
    // other peers are not affected
    assert.equal(h.links.send(B, frame(9)), 'queued')
    assert.equal(h.opens.length, 2)

    await sleep(80)
    assert.equal(h.links.send(A, frame(5)), 'queued')
    assert.equal(h.opens.length, 3)
    const s = fakeStream()
    h.opens[2].resolve(s)
    await settle()
    assert.deepEqual(s.sent, [frame(5)], 'frames refused earlier are not resent')
    assert.equal(h.unreachable.length, 1)
    h.links.closeAll()
  })

  it('gives up opening after openTimeout, aborting the open', async () => {
    const h = harness({ openTimeout: 20 })
    assert.equal(h.links.send(A, frame(1)), 'queued')
    const { signal } = h.opens[0]
    await sleep(40)
    assert.equal(signal.aborted, true)
    assert.equal(h.unreachable.length, 1)
    assert.match(h.unreachable[0][1], /timed out after 20 ms/)
    assert.deepEqual(h.unreachable[0][2], [frame(1)])
    assert.equal(h.links.send(A, frame(1)), 'unreachable')
  })

  it('drops packets as congested past maxWriteBuffer, and past maxQueued while opening', async () => {
    const h = harness({ maxWriteBuffer: 1000, maxQueued: 50 })
    assert.equal(h.links.send(A, frame(1, 20)), 'queued')
    assert.equal(h.links.send(A, frame(2, 20)), 'queued')
    assert.equal(h.links.send(A, frame(3, 20)), 'congested', '66 bytes queued would pass 50')
    const s = fakeStream()
    h.opens[0].resolve(s)
    await settle()
    assert.deepEqual(s.sent, [frame(1, 20), frame(2, 20)])

    s.writeBufferLength = 1000
    assert.equal(h.links.send(A, frame(4)), 'sent', 'at the limit')
    s.writeBufferLength = 1001
    assert.equal(h.links.send(A, frame(5)), 'congested')
    assert.equal(s.sent.length, 3)
    assert.equal(h.opens.length, 1, 'a congested link is not reopened')
    s.writeBufferLength = 0
    assert.equal(h.links.send(A, frame(6)), 'sent')
    assert.deepEqual(s.sent.at(-1), frame(6))
    h.links.closeAll()
  })

  it('reads packets from a link in any split, and aborts a link whose framing is corrupt', async () => {
    const h = harness()
    const s = fakeStream()
    h.links.accept(A, s.stream, 'direct')
    assert.deepEqual(h.linked, [[A, 'direct', false]])
    const wire = encodeFrames([Uint8Array.of(1, 2, 3), Uint8Array.of(4), Uint8Array.of(5, 6)])
    s.receive(wire.subarray(0, 4))
    // a Uint8ArrayList-like message
    const rest = wire.subarray(4)
    const e = new Event('message') as Event & { data: unknown }
    e.data = { subarray: () => rest }
    s.dispatchEvent(e)
    assert.deepEqual(h.packets, [[A, [1, 2, 3]], [A, [4]], [A, [5, 6]]])

    s.receive(Uint8Array.of(0, 0, 7))
    assert.equal(s.status, 'aborted')
    assert.equal(s.abortedWith?.name, 'TunFrameError')
    assert.equal(h.packets.length, 3)
    // the link is gone with its only stream: the next send opens a new one
    assert.equal(h.links.send(A, frame(1)), 'queued')
    assert.equal(h.opens.length, 1)
    h.links.closeAll()
  })

  it('lets an inbound stream accepted while opening take over the queue; the later outbound stream then takes over sending', async () => {
    const h = harness()
    assert.equal(h.links.send(A, frame(1)), 'queued')
    assert.equal(h.links.send(A, frame(2)), 'queued')
    const inbound = fakeStream()
    h.links.accept(A, inbound.stream, 'direct')
    assert.deepEqual(inbound.sent, [frame(1), frame(2)], 'the queue went out on the inbound stream')
    assert.equal(h.links.send(A, frame(3)), 'sent')
    assert.deepEqual(inbound.sent.at(-1), frame(3))

    const outbound = fakeStream()
    h.opens[0].resolve(outbound, 'direct')
    await settle()
    assert.deepEqual(h.linked, [[A, 'direct', false], [A, 'direct', true]])
    assert.equal(h.links.send(A, frame(4)), 'sent')
    assert.deepEqual(outbound.sent, [frame(4)], 'the newer stream sends')
    assert.equal(inbound.sent.length, 3)
    // the older one is still read
    inbound.receive(encodeFrames([Uint8Array.of(9)]))
    assert.deepEqual(h.packets, [[A, [9]]])
    // when the newer closes, the older sends again
    await outbound.close()
    assert.equal(h.links.send(A, frame(5)), 'sent')
    assert.deepEqual(inbound.sent.at(-1), frame(5))
    assert.equal(h.opens.length, 1)
    h.links.closeAll()
  })

  it('does not report unreachable when the open fails after an inbound stream arrived', async () => {
    const h = harness()
    assert.equal(h.links.send(A, frame(1)), 'queued')
    const inbound = fakeStream()
    h.links.accept(A, inbound.stream, 'direct')
    h.opens[0].reject(new Error('dial failed'))
    await settle()
    assert.deepEqual(h.unreachable, [])
    assert.equal(h.links.send(A, frame(2)), 'sent')
    assert.deepEqual(inbound.sent, [frame(1), frame(2)])
    h.links.closeAll()
  })

  it('closes its side when the remote closes its write side, and reopens on the next send', async () => {
    const h = harness()
    const s = fakeStream()
    h.links.accept(A, s.stream, 'direct')
    s.remoteCloseWrite()
    await settle()
    assert.equal(s.closeCalls, 1)
    assert.equal(s.status, 'closed')
    assert.equal(h.links.send(A, frame(1)), 'queued')
    assert.equal(h.opens.length, 1)
    h.links.closeAll()
  })

  it('close() aborts every stream of the peer and an open in progress; closeAll() closes every peer', async () => {
    const h = harness()
    const older = fakeStream()
    const newer = fakeStream()
    h.links.accept(A, older.stream, 'direct')
    h.links.accept(A, newer.stream, 'direct')
    const other = fakeStream()
    h.links.accept(B, other.stream, 'direct')

    h.links.close(A, 'no longer allowed')
    for (const s of [older, newer]) {
      assert.equal(s.status, 'aborted')
      assert.equal(s.abortedWith?.message, 'no longer allowed')
    }
    assert.equal(other.status, 'open')
    assert.deepEqual(Object.keys(h.links.describe()), [B])

    // an open in progress is aborted without reporting the peer unreachable
    assert.equal(h.links.send(A, frame(1)), 'queued')
    const pending = h.opens[0]
    h.links.close(A, 'going away')
    assert.equal(pending.signal.aborted, true)
    assert.equal(pending.signal.reason.message, 'going away')
    await settle()
    assert.deepEqual(h.unreachable, [])

    h.links.closeAll()
    assert.equal(other.status, 'aborted')
    assert.equal(other.abortedWith?.message, 'TUN mode stopped')
    assert.deepEqual(h.links.describe(), {})
    h.links.close('nobody', 'no-op')
  })

  it('aborts a stream that an open yields after the link was closed', async () => {
    const h = harness({}, false)
    assert.equal(h.links.send(A, frame(1)), 'queued')
    h.links.close(A, 'going away')
    const late = fakeStream()
    h.opens[0].resolve(late)
    await settle()
    assert.equal(late.status, 'aborted')
    assert.equal(late.abortedWith?.message, 'link closed while opening')
    assert.deepEqual(late.sent, [], 'the queue was dropped with the link')
    assert.deepEqual(h.linked, [])
    assert.deepEqual(h.links.describe(), {})
  })
})
