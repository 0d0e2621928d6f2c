import { SERVICES_PROTOCOL } from './constants.js'
import { ServiceNotFoundError } from './errors.js'
import { parseHostPort } from './service-registry.js'
import { requestJson, serveJson } from './wire/json-exchange.js'
import type { PeerupLibp2p } from './network.js'
import type { ServiceRegistry } from './service-registry.js'
import type { AbortOptions, Connection } from '@libp2p/interface'

/** One entry of a remote node's service catalogue. */
export interface CatalogueEntry {
  name: string
  /** The service's local port on the remote node. */
  port: number
  protocol: string
}

/** Conventional services for well-known ports, tried when no remote service uses the port. */
export const CONVENTIONAL_PORTS: Record<number, string[]> = {
  22: ['ssh'],
  80: ['web', 'http'],
  443: ['https', 'web'],
  445: ['smb'],
  3389: ['rdp'],
  5432: ['postgres'],
  5900: ['vnc'],
  8080: ['web', 'http']
}

/**
 * Serve `/peerup/services/1.0.0`: the services the asking peer is allowed
 * to use, with their local ports (so `ssh -p 22` maps to `ssh`).
 */
export async function serveCatalogue (libp2p: PeerupLibp2p, registry: ServiceRegistry): Promise<void> {
  await serveJson(libp2p, SERVICES_PROTOCOL, (_req, conn) => {
    const peer = conn.remotePeer.toString()
    return registry.list()
      .filter(s => s.enabled !== false && registry.isAuthorized(peer, s.name))
      .map(s => ({ name: s.name, port: parseHostPort(s.localAddress).port, protocol: s.protocol }))
  })
}

/** Ask a connected peer for the services we may use. */
export async function fetchCatalogue (conn: Connection, options?: AbortOptions): Promise<CatalogueEntry[]> {
  const reply = await requestJson<CatalogueEntry[]>(conn, SERVICES_PROTOCOL, { op: 'list' }, options)
  if (!Array.isArray(reply)) return []
  return reply.filter(e => typeof e?.name === 'string' && typeof e?.port === 'number' && typeof e?.protocol === 'string')
}

/**
 * Map a port number to a remote service: the service whose local port is
 * that number, else the conventional service for it; else a
 * {@link ServiceNotFoundError} listing the remote services.
 */
export function serviceForPort (port: number, catalogue: CatalogueEntry[], target: string): CatalogueEntry {
  const byPort = catalogue.find(e => e.port === port)
  if (byPort != null) return byPort
  for (const name of CONVENTIONAL_PORTS[port] ?? []) {
    const hit = catalogue.find(e => e.name === name)
    if (hit != null) return hit
  }
  const list = catalogue.map(e => `${e.name} (port ${e.port})`).join(', ')
  throw new ServiceNotFoundError(`${target} has no service for port ${port}; its services: ${list === '' ? 'none you may use' : list}`)
}
