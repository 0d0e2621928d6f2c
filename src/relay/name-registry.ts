import { existsSync, readFileSync, unwatchFile, watchFile } from 'node:fs'
import { logger } from '@libp2p/logger'
import { writeFileAtomic } from '../config/atomic-write.js'
import { NAMES_PROTOCOL } from '../constants.js'
import { LABEL_RE } from '../config/schema.js'
import { isLoopbackAddr } from '../network/loopback-addrs.js'
import { serveJson } from '../wire/json-exchange.js'
import type { PeerupLibp2p } from '../network/network.js'

const log = logger('peerup:relay:names')

/** One registered name. */
export interface RegisteredName {
  network: string
  host: string
  peerId: string
  registeredAt: string
}

type RegistryData = Record<string, Record<string, { peerId: string, registeredAt: string }>>

/** Read a registry file (missing: empty). */
export function readRegistryFile (file: string): RegisteredName[] {
  const data = load(file)
  return Object.entries(data).flatMap(([network, hosts]) => Object.entries(hosts).map(([host, e]) => ({ network, host, ...e })))
}

/** Remove `host.network` from a registry file (the operator's override). Returns false when absent. */
export function removeFromRegistryFile (file: string, name: string): boolean {
  const [host, network] = name.toLowerCase().replace(/\.p2p$/, '').split('.')
  const data = load(file)
  if (network == null || data[network]?.[host] == null) return false
  delete data[network][host]
  if (Object.keys(data[network]).length === 0) delete data[network]
  writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 })
  return true
}

function load (file: string): RegistryData {
  if (!existsSync(file)) return {}
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RegistryData
  } catch (err: any) {
    log.error('%s is not valid JSON, keeping the registry empty: %s', file, err.message)
    return {}
  }
}

/** Init of {@link startNameRegistry}. */
export interface NameRegistryInit {
  libp2p: PeerupLibp2p
  /** Persistent registry file (JSON). */
  file: string
  /** Whether a peer is a member of this relay. */
  isMember: (peerId: string) => boolean
}

/** A running name registry. */
export interface NameRegistry {
  list (): RegisteredName[]
  stop (): void
}

/**
 * Serve the relay's name registry on `/peerup/names/1.0.0`: a member
 * registers its own host name in a network (first come, first served: a name
 * bound to one peer cannot be taken by another until the operator removes
 * it), and members resolve `host` in `network` to a peer ID plus the
 * addresses the relay knows. Non-members get nothing.
 */
export async function startNameRegistry (init: NameRegistryInit): Promise<NameRegistry> {
  let data = load(init.file)
  const save = (): void => { writeFileAtomic(init.file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 }) }
  watchFile(init.file, { interval: 1000, persistent: false }, () => { data = load(init.file) })

  await serveJson(init.libp2p, NAMES_PROTOCOL, async (req: any, conn) => {
    const peer = conn.remotePeer.toString()
    if (!init.isMember(peer)) return { ok: false, error: 'not a member' }
    const network = String(req?.network ?? '').toLowerCase()
    const host = String(req?.host ?? '').toLowerCase()
    if (!LABEL_RE.test(network) || !LABEL_RE.test(host)) return { ok: false, error: 'invalid name' }
    if (req.op === 'register') {
      const current = data[network]?.[host]
      if (current != null && current.peerId !== peer) {
        log('refused %s.%s for %s: bound to %s', host, network, peer, current.peerId)
        return { ok: false, error: 'name taken' }
      }
      if (current == null) {
        data[network] ??= {}
        data[network][host] = { peerId: peer, registeredAt: new Date().toISOString() }
        save()
        log('registered %s.%s -> %s', host, network, peer)
      }
      return { ok: true }
    }
    if (req.op === 'resolve') {
      const entry = data[network]?.[host]
      if (entry == null) return { ok: true, found: false }
      let addrs: string[] = []
      try {
        const p = await init.libp2p.peerStore.get((await import('@libp2p/peer-id')).peerIdFromString(entry.peerId))
        addrs = p.addresses.map(a => a.multiaddr.toString()).filter(a => !a.includes('/p2p-circuit'))
        // loopback addresses only when both ends are on this host (see loopback-addrs.ts)
        const sameHost = isLoopbackAddr(conn.remoteAddr) && init.libp2p.getConnections(p.id).some(c => isLoopbackAddr(c.remoteAddr))
        if (!sameHost) addrs = addrs.filter(a => !isLoopbackAddr(a))
      } catch {}
      return { ok: true, found: true, peerId: entry.peerId, addrs }
    }
    return { ok: false, error: 'unknown op' }
  })
  return {
    list: () => readRegistryFile(init.file),
    stop: () => { unwatchFile(init.file) }
  }
}
