import { logger } from '@libp2p/logger'
import { AUTHORIZED_KEYS_POLL_INTERVAL, TUN_INTERFACE, TUN_MIGRATE_TIMEOUT, TUN_MTU, TUN_PROTOCOL, VIP_PREFIX_LENGTH, VIP_RESERVED } from '../constants.js'
import { registerState, stateKey } from '../metrics/debug-state.js'
import { readU32 } from '../network/ipv4.js'
import { describePath, pathOf, pathRank } from '../paths/dialer.js'
import { TunUnavailableError } from '../errors.js'
import { checkInbound, routeOutbound } from './crypto-key-routing.js'
import { configureInterface, removeInterface } from './interface-config.js'
import { ICMP_UNREACHABLE, icmpUnreachable, intToIpv4, ipv4ToInt, isStunDatagram } from './ip-packet.js'
import { MAX_FRAME_PACKET, walkFrames } from './packet-framing.js'
import { createPeerLinks } from './peer-links.js'
import { openTunDevice } from './tun-device.js'
import type { InterfaceConfig } from './interface-config.js'
import type { PeerLinksInit } from './peer-links.js'
import type { TunDevice, TunDeviceInit } from './tun-device.js'
import type { VirtualIpTable } from '../gateway/virtual-ip.js'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'

const log = logger('peerup:tun')

/** Init of {@link startTunMode}. */
export interface TunModeInit extends PeerLinksInit {
  /**
   * Interface name.
   *
   * @default 'peer0'
   */
  interface?: string
  /**
   * Interface MTU (576–65535).
   *
   * @default 16384
   */
  mtu?: number
  /** This node's mesh address (its row in the virtual-IP table). */
  address: string
  /**
   * Which path links prefer (`paths.prefer`): with `direct`, a link that
   * started relayed moves onto a direct connection when one opens.
   *
   * @default 'direct'
   */
  prefer?: 'direct' | 'relay'
  /** Called for every dropped or refused packet and every unreachable peer, for reporting. */
  onEvent?: (event: TunEvent) => void
}

/** The set of peers allowed to exchange IP packets with us (an `AuthorizedKeys`). */
export interface TunAllowList {
  isAuthorized: (peerId: string) => boolean
  entries: () => Array<{ peerId: string }>
  on: (event: 'change', listener: () => void) => unknown
  off: (event: 'change', listener: () => void) => unknown
}

/** Collaborators of {@link startTunMode}. */
export interface TunModeComponents {
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'addEventListener' | 'removeEventListener' | 'getConnections'>
  /** This node's peer ID (never routed to). */
  peerId: string
  /** Connect to a peer (direct or relayed) and open a stream of `protocol`; `path` describes the connection (`direct`, `relayed via …`). */
  open: (peerId: string, protocol: string, options: { signal: AbortSignal }) => Promise<{ stream: Stream, path: string }>
  /** The shared virtual-IP table: a peer's TUN address is its row. */
  vips: VirtualIpTable
  /** Who may send and receive IP packets (`gateway.tun.allow`, default the global authorized_keys). */
  allow: TunAllowList
  /** Device factory (tests inject one). @default openTunDevice */
  openDevice?: (init: TunDeviceInit) => Promise<TunDevice>
  /** Interface setup (tests inject one). @default configureInterface */
  configure?: (c: InterfaceConfig) => Promise<void>
  /** Interface removal at stop (tests inject one, so they never touch a real interface). @default removeInterface */
  unconfigure?: (name: string) => Promise<void>
}

/** Why a packet was dropped. */
export type TunDropReason = 'spoofedSource' | 'foreignDestination' | 'malformed' | 'notAllowed' | 'noRoute' | 'unreachable' | 'congested' | 'writeError' | 'iceOverMesh'

/** Something {@link TunModeInit.onEvent} reports. */
export type TunEvent =
  | { type: 'drop', reason: TunDropReason, peerId?: string, src?: string, dst?: string }
  | { type: 'unreachable', peerId: string, error: string }
  | { type: 'link', peerId: string, path: string, initiator: boolean }

/** Counters of a running TUN mode. */
export interface TunStats {
  /** Packets and bytes sent to peers. */
  sentPackets: number
  sentBytes: number
  /** Packets and bytes received from peers and written to the interface. */
  receivedPackets: number
  receivedBytes: number
  /** ICMP destination-unreachable packets written back to the interface. */
  icmpSent: number
  dropped: Record<TunDropReason, number>
}

/** A peer of TUN mode, as {@link TunMode.peers} lists it. */
export interface TunPeer {
  peerId: string
  /** Its mesh address. */
  address: string
  /** The path of its link (`direct`, `direct-udp`, `relayed via …`), or null with no link open. */
  path: string | null
}

/** A running TUN mode. */
export interface TunMode {
  /** Interface name. */
  readonly interface: string
  /** This node's mesh address. */
  readonly address: string
  readonly mtu: number
  /** A snapshot of the counters. */
  stats: () => TunStats
  /** The peers that may exchange IP with us: their mesh address and, with a link open, its path. */
  peers: () => TunPeer[]
  /** Stop: close the peer streams, stop handling the protocol, remove the interface (and so its routes). */
  stop: () => Promise<void>
}

/**
 * Start TUN mode: a layer-3 mesh over `10.64.0.0/16`. Creates the interface
 * (address = this node's virtual IP, route of the mesh network, MTU), then
 * carries IP packets to and from allowed peers, one long-lived
 * `/peerup/ip/1.0.0` stream per peer, over direct or relayed connections.
 * Inbound packets pass crypto-key routing (see `crypto-key-routing.ts`).
 * Packets to a peer that cannot be reached, or that does not run TUN mode,
 * get an ICMP destination-unreachable answer from `10.64.0.1`.
 *
 * @throws {TunUnavailableError} when the interface cannot be set up; nothing is left behind
 */
export async function startTunMode (init: TunModeInit, components: TunModeComponents): Promise<TunMode> {
  const name = init.interface ?? TUN_INTERFACE
  const mtu = init.mtu ?? TUN_MTU
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > MAX_FRAME_PACKET) throw new TunUnavailableError(`bad TUN MTU ${mtu}: 576 to ${MAX_FRAME_PACKET}`)
  const own = ipv4ToInt(init.address)
  if (Number.isNaN(own) || !components.vips.contains(init.address)) throw new TunUnavailableError(`bad TUN address ${init.address}: not in ${components.vips.cidr}`)
  const router = ipv4ToInt(VIP_RESERVED[0])
  const broadcast = (own | (0xffffffff >>> VIP_PREFIX_LENGTH)) >>> 0
  const { vips, allow } = components

  const stats: TunStats = {
    sentPackets: 0,
    sentBytes: 0,
    receivedPackets: 0,
    receivedBytes: 0,
    icmpSent: 0,
    dropped: { spoofedSource: 0, foreignDestination: 0, malformed: 0, notAllowed: 0, noRoute: 0, unreachable: 0, congested: 0, writeError: 0, iceOverMesh: 0 }
  }
  const emit = (e: TunEvent): void => { try { init.onEvent?.(e) } catch {} }

  // crypto-key routing tables: address ↔ peer, allowed peers only
  let byAddress = new Map<number, string>()
  let addressOf = new Map<string, number>()
  const refresh = (): void => {
    const a = new Map<number, string>()
    const p = new Map<string, number>()
    for (const { peerId } of allow.entries()) {
      if (peerId === components.peerId || p.has(peerId) || !allow.isAuthorized(peerId)) continue
      try {
        const ip = ipv4ToInt(vips.assign(peerId))
        a.set(ip, peerId)
        p.set(peerId, ip)
      } catch (err: any) {
        log.error('no TUN address for %s: %s', peerId, err.message)
      }
    }
    byAddress = a
    addressOf = p
  }
  refresh()

  const device = await (components.openDevice ?? openTunDevice)({ name, mtu })
  const links = createPeerLinks(init, {
    open: async (peerId, options) => await components.open(peerId, TUN_PROTOCOL, options)
  })
  let handling = false
  let unregister = (): void => {}
  const onAllowChange = (): void => {
    refresh()
    for (const peerId of Object.keys(links.describe())) {
      if (!addressOf.has(peerId)) links.close(peerId, 'no longer allowed to use TUN mode')
    }
  }

  const drop = (reason: TunDropReason, packets: number, extra: Omit<TunEvent & { type: 'drop' }, 'type' | 'reason'> = {}): void => {
    stats.dropped[reason] += packets
    emit({ type: 'drop', reason, ...extra })
  }
  const writeToDevice = (packet: Uint8Array): boolean => {
    try {
      device.write(packet)
      return true
    } catch (err: any) {
      drop('writeError', 1)
      log.error('write to %s failed: %s', device.name, err.message)
      return false
    }
  }
  const reportUnreachable = (packet: Uint8Array, code: number): void => {
    const icmp = icmpUnreachable(packet, code, router)
    if (icmp != null && writeToDevice(icmp)) stats.icmpSent++
  }
  links.onPacket = (peerId, packet) => {
    const src = addressOf.get(peerId)
    if (src == null) { drop('notAllowed', 1, { peerId }); return }
    const verdict = checkInbound(packet, src, own)
    if (verdict !== 'accept') {
      const h = packet.length >= 20 ? { src: intToIpv4(readU32(packet, 12)), dst: intToIpv4(readU32(packet, 16)) } : {}
      drop(verdict, 1, { peerId, ...h })
      return
    }
    // an ICE check over the mesh (see isStunDatagram): counted, not reported
    if (isStunDatagram(packet)) { stats.dropped.iceOverMesh++; return }
    if (writeToDevice(packet)) {
      stats.receivedPackets++
      stats.receivedBytes += packet.length
    }
  }
  links.onLink = (peerId, path, initiator) => { emit({ type: 'link', peerId, path, initiator }) }
  links.onUnreachable = (peerId, error, queued) => {
    emit({ type: 'unreachable', peerId, error: error.message })
    for (const frames of queued) {
      walkFrames(frames, (packet) => {
        drop('unreachable', 1, { peerId })
        reportUnreachable(packet, ICMP_UNREACHABLE.ADMIN_PROHIBITED)
      })
    }
  }

  device.onBatch = (batch) => {
    // consecutive packets to the same peer go out as one send of contiguous frames
    let runPeer: string | undefined
    let runStart = 0
    let runPackets = 0
    const flush = (end: number): void => {
      if (runPeer == null || runPackets === 0) return
      const frames = batch.subarray(runStart, end)
      const r = links.send(runPeer, frames)
      if (r === 'sent' || r === 'queued') {
        stats.sentPackets += runPackets
        stats.sentBytes += frames.length - 2 * runPackets
      } else if (r === 'congested') {
        drop('congested', runPackets, { peerId: runPeer })
      } else {
        const peerId = runPeer
        walkFrames(frames, (packet) => {
          drop('unreachable', 1, { peerId })
          reportUnreachable(packet, ICMP_UNREACHABLE.ADMIN_PROHIBITED)
        })
      }
      runPeer = undefined
      runPackets = 0
    }
    const end = walkFrames(batch, (packet, o) => {
      const route = routeOutbound(packet, (dst) => byAddress.get(dst), broadcast)
      if (route.kind === 'peer' && isStunDatagram(packet)) {
        // WebRTC's ICE agent sees the TUN address as a host candidate: a direct UDP
        // path over the mesh would carry the mesh (see isStunDatagram)
        flush(o)
        stats.dropped.iceOverMesh++
      } else if (route.kind === 'peer') {
        if (route.peerId !== runPeer) {
          flush(o)
          runPeer = route.peerId
          runStart = o
        }
        runPackets++
      } else {
        flush(o)
        if (route.kind === 'malformed') {
          // IPv6 router solicitations and the like: the mesh is IPv4 only
          stats.dropped.malformed++
        } else {
          drop('noRoute', 1, { dst: intToIpv4(route.dst) })
          if (!route.silent) reportUnreachable(packet, ICMP_UNREACHABLE.HOST)
        }
      }
    })
    flush(end)
  }
  device.onError = (err) => { log.error('TUN device: %s', err.message) }

  // a better connection to a linked peer (a direct path found after a relayed
  // start): move the link onto it, so the relayed connection can be retired
  const migrating = new Set<string>()
  // connections a stream could not be opened on: never tried again
  const unusable = new WeakSet<Connection>()
  const consider = (peerId: string): void => {
    // one side moves links (the lower peer ID), so both never move at once
    if (components.peerId > peerId || init.prefer === 'relay' || migrating.has(peerId) || stopping) return
    const current = links.pathOf(peerId)
    if (current == null) return
    const best = components.libp2p.getConnections()
      .filter(c => c.status === 'open' && !unusable.has(c) && c.remotePeer.toString() === peerId)
      .sort((a, b) => pathRank(a) - pathRank(b))[0]
    if (best == null || pathRank(best) >= rankOfPath(current)) return
    migrating.add(peerId)
    const path = describePath(pathOf(best))
    best.newStream(TUN_PROTOCOL, { runOnLimitedConnection: true, signal: AbortSignal.timeout(TUN_MIGRATE_TIMEOUT) }).then((stream) => {
      if (!stopping && addressOf.has(peerId)) links.migrate(peerId, stream, path)
      else stream.abort(new Error('TUN mode stopped'))
    }, (err: Error) => {
      unusable.add(best)
      log('cannot move the link to %s onto %s: %s', peerId, path, err.message)
    }).finally(() => {
      migrating.delete(peerId)
      // a better connection may have opened meanwhile (UDP first, then TCP)
      consider(peerId)
    })
  }
  const onConnectionOpen = (evt: CustomEvent<Connection>): void => { consider(evt.detail.remotePeer.toString()) }

  let expiry: NodeJS.Timeout | undefined
  let stopping = false
  const cleanup = async (): Promise<void> => {
    stopping = true
    components.libp2p.removeEventListener('connection:open', onConnectionOpen)
    clearInterval(expiry)
    unregister()
    allow.off('change', onAllowChange)
    if (handling) await components.libp2p.unhandle(TUN_PROTOCOL).catch(() => {})
    handling = false
    links.closeAll()
    await device.close()
    // the kernel deletes a closed non-persistent TUN interface and its routes; make sure
    await (components.unconfigure ?? removeInterface)(device.name)
  }

  try {
    await (components.configure ?? configureInterface)({ name: device.name, address: init.address, prefixLength: VIP_PREFIX_LENGTH, mtu })
    await components.libp2p.handle(TUN_PROTOCOL, (stream, connection) => {
      const peerId = connection.remotePeer.toString()
      if (!addressOf.has(peerId)) {
        drop('notAllowed', 0, { peerId })
        log('refusing TUN stream from %s: not in the TUN allow list', peerId)
        stream.abort(new Error('not allowed to use TUN mode'))
        return
      }
      links.accept(peerId, stream, describePath(pathOf(connection)))
    }, { runOnLimitedConnection: true, maxInboundStreams: 8, maxOutboundStreams: 8, force: true })
    handling = true
  } catch (err) {
    await cleanup().catch(() => {})
    throw err
  }
  allow.on('change', onAllowChange)
  components.libp2p.addEventListener('connection:open', onConnectionOpen)
  // expires= runs out without the file changing
  expiry = setInterval(onAllowChange, AUTHORIZED_KEYS_POLL_INTERVAL * 5)
  expiry.unref()
  unregister = registerState(stateKey('tun'), () => ({ interface: device.name, address: init.address, mtu, stats, links: links.describe() }))
  log('TUN mode up: %s %s/%d mtu %d, %d peers routable', device.name, init.address, VIP_PREFIX_LENGTH, mtu, addressOf.size)

  let stopped: Promise<void> | undefined
  return {
    interface: device.name,
    address: init.address,
    mtu,
    stats: () => ({ ...stats, dropped: { ...stats.dropped } }),
    peers: () => [...addressOf].map(([peerId, ip]) => ({ peerId, address: intToIpv4(ip), path: links.pathOf(peerId) ?? null })),
    stop: async () => {
      stopped ??= cleanup()
      await stopped
    }
  }
}

/** Rank of a link's path, as `pathRank` ranks connections: direct TCP 0, direct UDP 1, relayed 2. */
function rankOfPath (path: string): number {
  return path === 'direct' ? 0 : path === 'direct-udp' ? 1 : 2
}

