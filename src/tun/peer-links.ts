import { logger } from '@libp2p/logger'
import { TUN_MAX_WRITE_BUFFER, TUN_OPEN_TIMEOUT, TUN_RETRY_INTERVAL } from '../constants.js'
import { describeStream } from '../metrics/debug-state.js'
import { createFrameDecoder } from './packet-framing.js'
import type { Stream } from '@libp2p/interface'

const log = logger('peerup:tun:links')

/** Init of {@link createPeerLinks}. */
export interface PeerLinksInit {
  /**
   * A link's write buffer (bytes) above which packets to that peer are dropped.
   *
   * @default 4194304
   */
  maxWriteBuffer?: number
  /**
   * After a failed open, packets to the peer are refused for this long (ms).
   *
   * @default 5000
   */
  retryInterval?: number
  /**
   * Time limit for opening a link (ms).
   *
   * @default 15000
   */
  openTimeout?: number
  /**
   * Bytes of packets held while a link opens; more are dropped.
   *
   * @default the write-buffer limit
   */
  maxQueued?: number
}

/** Collaborators of {@link createPeerLinks}. */
export interface PeerLinksComponents {
  /** Connect to a peer (direct or relayed) and open its `/peerup/ip/1.0.0` stream; `path` describes the connection. */
  open: (peerId: string, options: { signal: AbortSignal }) => Promise<{ stream: Stream, path: string }>
}

/** The outcome of {@link PeerLinks.send}. */
export type SendResult = 'sent' | 'queued' | 'congested' | 'unreachable'

/** The long-lived packet streams to the peers, one per peer. */
export interface PeerLinks {
  /**
   * Send frames (see `packet-framing.ts`) to a peer, opening its link on
   * first use. `unreachable` means a recent open failed: report it to the
   * sender. `congested` means the link's buffer is full and the frames were
   * dropped.
   */
  send: (peerId: string, frames: Uint8Array) => SendResult
  /** Adopt a stream the peer opened to us (call synchronously in the handler); `path` describes the connection. */
  accept: (peerId: string, stream: Stream, path: string) => void
  /**
   * Move a peer's link onto a better connection: adopt `stream` (opened by us
   * on that connection) for sending and receiving, and close the write side
   * of the older streams, which are still read until the peer closes them
   * too. Returns false (and aborts `stream`) when the peer has no link.
   */
  migrate: (peerId: string, stream: Stream, path: string) => boolean
  /** The path of a peer's current link (`direct`, `direct-udp`, `relayed via …`), if it has one. */
  pathOf: (peerId: string) => string | undefined
  /** Close a peer's link(s) at once, e.g. when it is no longer allowed. */
  close: (peerId: string, reason: string) => void
  /** Called for every packet received from a peer (the view is valid during the call). */
  onPacket: (peerId: string, packet: Uint8Array) => void
  /** Called when a link's stream opens (either side), with its path. */
  onLink: (peerId: string, path: string, initiator: boolean) => void
  /** Called when opening a link fails, with the frames that were waiting for it. */
  onUnreachable: (peerId: string, error: Error, queued: Uint8Array[]) => void
  /** Peers with a link or a recent failure, for diagnostics. */
  describe: () => Record<string, unknown>
  /** Close every link. */
  closeAll: () => void
}

function isWritable (s: Stream): boolean {
  return s.status === 'open' && s.writeStatus === 'writable'
}

interface Link {
  peerId: string
  streams: Set<Stream>
  /** The stream we send on. */
  current?: Stream
  opening?: AbortController
  queued: Uint8Array[]
  queuedBytes: number
  failedUntil: number
  lastError?: string
  path?: string
}

/**
 * Create the per-peer links. Each link is one bidirectional stream; a link
 * either side opened serves both directions, and a newer stream (the peer
 * restarted, or both sides opened at once) takes over sending while the
 * older one is still read until it closes. Packets are never buffered
 * without bound: past `maxWriteBuffer` they are dropped, as a full
 * interface queue drops them, and TCP inside the tunnel backs off.
 */
export function createPeerLinks (init: PeerLinksInit, components: PeerLinksComponents): PeerLinks {
  const maxWriteBuffer = init.maxWriteBuffer ?? TUN_MAX_WRITE_BUFFER
  const retryInterval = init.retryInterval ?? TUN_RETRY_INTERVAL
  const openTimeout = init.openTimeout ?? TUN_OPEN_TIMEOUT
  const maxQueued = init.maxQueued ?? maxWriteBuffer
  const links = new Map<string, Link>()

  const linkOf = (peerId: string): Link => {
    let l = links.get(peerId)
    if (l == null) {
      l = { peerId, streams: new Set(), queued: [], queuedBytes: 0, failedUntil: 0 }
      links.set(peerId, l)
    }
    return l
  }

  /** Empty a link's queue, returning what it held. */
  const takeQueued = (link: Link): Uint8Array[] => {
    const q = link.queued
    link.queued = []
    link.queuedBytes = 0
    return q
  }

  const adopt = (link: Link, stream: Stream, path: string): void => {
    link.path = path
    link.streams.add(stream)
    link.current = stream
    link.failedUntil = 0
    const decoder = createFrameDecoder((packet) => { self.onPacket(link.peerId, packet) })
    // listeners attached synchronously, before any await: an early FIN is lost otherwise
    stream.addEventListener('message', (evt: any) => {
      const data: Uint8Array = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      try {
        decoder.push(data)
      } catch (err: any) {
        log.error('closing link to %s: %s', link.peerId, err.message)
        stream.abort(err)
      }
    })
    stream.addEventListener('close', () => {
      link.streams.delete(stream)
      if (link.current === stream) link.current = [...link.streams].pop()
      if (link.streams.size === 0 && link.opening == null && link.failedUntil === 0) links.delete(link.peerId)
      log('link stream to %s closed (%d left)', link.peerId, link.streams.size)
    })
    // the remote closing its write side ends the link for us too
    stream.addEventListener('remoteCloseWrite', () => { stream.close().catch(() => { stream.abort(new Error('close failed')) }) })
    for (const f of takeQueued(link)) stream.send(f)
  }

  const open = (link: Link): void => {
    const controller = new AbortController()
    link.opening = controller
    const timer = setTimeout(() => { controller.abort(new Error(`timed out after ${openTimeout} ms`)) }, openTimeout)
    log('opening link to %s', link.peerId)
    components.open(link.peerId, { signal: controller.signal }).then(({ stream, path }) => {
      if (link.opening !== controller) { stream.abort(new Error('link closed while opening')); return }
      link.opening = undefined
      adopt(link, stream, path)
      log('link to %s open (%s)', link.peerId, path)
      self.onLink(link.peerId, path, true)
    }, (err: Error) => {
      if (link.opening !== controller) return
      link.opening = undefined
      // an inbound stream may have arrived meanwhile: it takes what was queued
      const writable = [...link.streams].reverse().find(isWritable)
      if (writable != null) {
        link.current = writable
        for (const f of takeQueued(link)) writable.send(f)
        return
      }
      link.failedUntil = Date.now() + retryInterval
      link.lastError = err.message
      log('link to %s failed: %s', link.peerId, err.message)
      self.onUnreachable(link.peerId, err, takeQueued(link))
    }).finally(() => { clearTimeout(timer) })
  }

  const self: PeerLinks = {
    onPacket: () => {},
    onUnreachable: () => {},
    onLink: () => {},
    send (peerId, frames) {
      const link = linkOf(peerId)
      let s = link.current
      if (s != null && !isWritable(s)) {
        // the current stream is closing (the peer moved the link): any other open one will do
        s = [...link.streams].reverse().find(isWritable)
        if (s != null) link.current = s
      }
      if (s != null) {
        if (s.writeBufferLength > maxWriteBuffer) return 'congested'
        s.send(frames)
        return 'sent'
      }
      if (link.opening == null) {
        if (Date.now() < link.failedUntil) return 'unreachable'
        open(link)
      }
      if (link.queuedBytes + frames.length > maxQueued) return 'congested'
      link.queued.push(frames)
      link.queuedBytes += frames.length
      return 'queued'
    },
    accept (peerId, stream, path) {
      const link = linkOf(peerId)
      log('link from %s accepted (%s)', peerId, path)
      adopt(link, stream, path)
      self.onLink(peerId, path, false)
    },
    migrate (peerId, stream, path) {
      const link = links.get(peerId)
      if (link == null || link.current == null) { stream.abort(new Error('no link to migrate')); return false }
      const older = [...link.streams]
      adopt(link, stream, path)
      for (const s of older) s.close().catch(() => { s.abort(new Error('close failed')) })
      log('link to %s moved to %s', peerId, path)
      self.onLink(peerId, path, true)
      return true
    },
    pathOf (peerId) {
      const link = links.get(peerId)
      return link?.current != null ? link.path : undefined
    },
    close (peerId, reason) {
      const link = links.get(peerId)
      if (link == null) return
      links.delete(peerId)
      link.opening?.abort(new Error(reason))
      link.opening = undefined
      for (const s of link.streams) s.abort(new Error(reason))
      log('closed link to %s: %s', peerId, reason)
    },
    describe () {
      const out: Record<string, unknown> = {}
      for (const l of links.values()) {
        out[l.peerId] = {
          path: l.path,
          opening: l.opening != null,
          queued: l.queuedBytes,
          failedFor: Math.max(0, l.failedUntil - Date.now()),
          lastError: l.lastError,
          streams: [...l.streams].map(describeStream)
        }
      }
      return out
    },
    closeAll () {
      for (const peerId of [...links.keys()]) self.close(peerId, 'TUN mode stopped')
    }
  }
  return self
}
