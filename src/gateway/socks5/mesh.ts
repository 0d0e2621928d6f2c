import { isIPv4 } from 'node:net'
import { DNS_SUFFIXES } from '../../constants.js'
import { holdStream, spliceSocketStream } from '../../tunnels/proxy.js'
import { normaliseZone } from '../dns/zones.js'
import { SOCKS_REPLY } from './protocol.js'
import type { SocksDestination } from './protocol.js'
import type { PeerupNode } from '../../node/node.js'
import type { VirtualIpTable } from '../virtual-ip.js'
import type { Socket } from 'node:net'

/**
 * The SOCKS gateway's mesh side (as Tailscale's `tssocks` is to
 * `net/socks5`): which destinations are in the mesh (names in our zones,
 * mesh names, virtual IPs), opening the tunnel with `node.openTunnel`, and
 * the SOCKS reply code for each mesh error.
 */

/** What the mesh side needs of the node and the virtual-IP table. */
export interface SocksMeshComponents {
  /** The mesh side: name resolution and tunnels (a `PeerupNode`); with `outbound`, tunnels are counted there (status, metrics). */
  node: Pick<PeerupNode, 'resolve' | 'openTunnel'> & Partial<Pick<PeerupNode, 'outbound'>>
  /** The virtual-IP table shared with the DNS gateway. */
  vips: VirtualIpTable
}

/** Why a destination could not be reached: the reply code and a log line. */
export class Refusal extends Error {
  constructor (readonly code: number, message: string) { super(message) }
}

/** A mesh destination: what to dial (peer name or ID) and the peer it means. */
export interface MeshTarget { target: string, peerId: string }

/** An opened tunnel whose stream is held (its early FIN/data kept) until spliced. */
export interface MeshTunnel {
  readonly peerId: string
  /** `direct` or `relayed via <relay>`, for the log. */
  readonly route: string
  /** Give the stream up (the client went away first). */
  cancel: (reason: Error) => void
  /** The address reported as BND.ADDR: the peer's virtual IP (assigned now if it has none). */
  boundIp: () => string
  /** Splice the client socket with the stream until both ends finish; counted in `node.outbound`. */
  splice: (socket: Socket) => Promise<{ bytesToStream: number, bytesFromStream: number, clean: boolean }>
}

/** The mesh side of a SOCKS gateway. */
export interface SocksMesh {
  /** The mesh target for a destination, or undefined when it is outside the mesh; throws {@link Refusal}. */
  target: (dest: SocksDestination, signal: AbortSignal) => Promise<MeshTarget | undefined>
  /** Open the tunnel to `target`'s service on `dest.port`; throws {@link Refusal}. */
  open: (mesh: MeshTarget, dest: SocksDestination, signal: AbortSignal) => Promise<MeshTunnel>
}

/** The reply code for a mesh error, by error name. */
export function meshReply (err: any): number {
  switch (err?.name) {
    case 'NotAuthorizedError': return SOCKS_REPLY.NOT_ALLOWED
    case 'ServiceNotFoundError': return SOCKS_REPLY.CONNECTION_REFUSED
    case 'UnreachableError':
    case 'NameNotFoundError':
    case 'InvalidNameError':
    case 'InvalidPeerIdError': return SOCKS_REPLY.HOST_UNREACHABLE
    case 'AbortError':
    case 'TimeoutError': return SOCKS_REPLY.TTL_EXPIRED
    default: return SOCKS_REPLY.GENERAL_FAILURE
  }
}

/**
 * Build the mesh side. `suffixes` are the DNS zones stripped from
 * destination names, so `laptop.grewal.p2p` means `laptop.grewal`.
 */
export function socksMesh (components: SocksMeshComponents, suffixes: string[] = DNS_SUFFIXES): SocksMesh {
  const { node, vips } = components
  const zones = suffixes.map(s => normaliseZone(s).join('.')).filter(s => s !== '')

  async function target (dest: SocksDestination, signal: AbortSignal): Promise<MeshTarget | undefined> {
    if (dest.kind === 'ip') {
      if (!isIPv4(dest.host) || !vips.contains(dest.host)) return undefined
      const entry = vips.byIp(dest.host)
      if (entry == null) throw new Refusal(SOCKS_REPLY.HOST_UNREACHABLE, `no peer has virtual IP ${dest.host}`)
      // dial by name when the name still means that peer (its names-file addresses help); else by peer ID
      const name = entry.names[0]
      if (name != null) {
        try {
          if ((await node.resolve(name, { signal })).peerId === entry.peerId) return { target: name, peerId: entry.peerId }
        } catch {}
      }
      return { target: entry.peerId, peerId: entry.peerId }
    }
    let name = dest.host.toLowerCase().replace(/\.$/, '')
    let zoned = false
    for (const s of zones) {
      if (name.endsWith(`.${s}`)) {
        name = name.slice(0, -(s.length + 1))
        zoned = true
        break
      }
    }
    try {
      const r = await node.resolve(name, { signal })
      return { target: name, peerId: r.peerId }
    } catch (err: any) {
      if (signal.aborted) throw err
      // a name in our zones is never looked up outside the mesh
      if (zoned) throw new Refusal(meshReply(err), `${dest.host}: ${err.message}`)
      if (err?.name === 'NameNotFoundError' || err?.name === 'InvalidNameError') return undefined
      throw new Refusal(meshReply(err), `${dest.host}: ${err.message}`)
    }
  }

  async function open (mesh: MeshTarget, dest: SocksDestination, signal: AbortSignal): Promise<MeshTunnel> {
    let opened
    try {
      opened = await node.openTunnel(mesh.target, String(dest.port), { signal })
    } catch (err: any) {
      throw new Refusal(meshReply(err), `via ${mesh.target}: ${err.message}`)
    }
    // capture the stream's early FIN/data before anything else can run (for await can miss an early FIN)
    const held = holdStream(opened.stream)
    const { peerId, path, stream } = opened
    return {
      peerId,
      route: path.path === 'relayed' ? `relayed via ${path.relay ?? 'relay'}` : 'direct',
      cancel: (reason) => {
        held.release()
        stream.abort(reason)
      },
      boundIp: () => {
        try {
          return vips.byPeer(peerId)?.ip ?? vips.assign(peerId)
        } catch {
          return '0.0.0.0'
        }
      },
      splice: async (socket) => {
        const tracked = node.outbound?.track({ target: mesh.target, service: String(dest.port), peerId, path, origin: 'socks' })
        const stats = await spliceSocketStream(socket, held, { counters: tracked?.counters })
        tracked?.end(stats.clean)
        return stats
      }
    }
  }

  return { target, open }
}
