import { SERVICE_LOOKUP_TIMEOUT, SERVICES_PROTOCOL } from '../constants.js'
import { NotAuthorizedError, ServiceNotFoundError } from '../errors.js'
import { parseHostPort } from './service-registry.js'
import { requestJson, serveJson } from '../wire/json-exchange.js'
import type { PeerupLibp2p } from '../network/network.js'
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

/** Whether a peer may use one service of a remote node (the `lookup` request). */
export interface ServiceAccess {
  /** `allowed`; `denied`: the service exists but its allow-list does not have the peer; `absent`: no such service. */
  status: 'allowed' | 'denied' | 'absent'
  name?: string
  /** The service's local port on the remote node. */
  port?: number
  /** Whether the service has its own allow-list (its owner adds peers with `--service`). */
  ownList?: boolean
}

/** Options of {@link serveCatalogue}. */
export interface ServeCatalogueOptions {
  /** Called when a peer looks up a service by port and is not allowed to use it (it will not open a stream, so the registry sees no refusal). */
  onDenied?: (peer: string, service: string) => void
}

const entryOf = (s: { name: string, localAddress: string, protocol?: string }): CatalogueEntry =>
  ({ name: s.name, port: parseHostPort(s.localAddress).port, protocol: s.protocol ?? '' })

/**
 * Serve `/peerup/services/1.0.0`. `{op: 'list'}` (and any request without a
 * known op): the services the asking peer is allowed to use, with their
 * local ports (so `ssh -p 22` maps to `ssh`). `{op: 'lookup', port}` or
 * `{op: 'lookup', service}`: a {@link ServiceAccess} for one service, so a
 * refused peer is told "not yours to use" rather than "no such service".
 * Only peers that passed the gater (some list has them) can ask, and a
 * lookup names at most the one service asked for.
 */
export async function serveCatalogue (libp2p: PeerupLibp2p, registry: ServiceRegistry, options: ServeCatalogueOptions = {}): Promise<void> {
  await serveJson(libp2p, SERVICES_PROTOCOL, (req: any, conn) => {
    const peer = conn.remotePeer.toString()
    const enabled = registry.list().filter(s => s.enabled !== false)
    if (req?.op === 'lookup') {
      const all = enabled.map(entryOf)
      let hit: CatalogueEntry | undefined
      if (typeof req.port === 'number') {
        try { hit = serviceForPort(req.port, all, 'this node') } catch {}
      } else if (typeof req.service === 'string') {
        hit = all.find(e => e.name === req.service)
      }
      if (hit == null) return { status: 'absent' } satisfies ServiceAccess
      const allowed = registry.isAuthorized(peer, hit.name)
      if (!allowed && typeof req.port === 'number') options.onDenied?.(peer, hit.name)
      return { status: allowed ? 'allowed' : 'denied', name: hit.name, port: hit.port, ownList: registry.hasOwnList(hit.name) } satisfies ServiceAccess
    }
    return enabled.filter(s => registry.isAuthorized(peer, s.name)).map(entryOf)
  })
}

/**
 * Ask a connected peer whether we may use one service (by name or by port).
 * Undefined when the peer does not know the request (an older version
 * answers every request with its list).
 */
export async function lookupService (conn: Connection, query: { service: string } | { port: number }, options?: AbortOptions): Promise<ServiceAccess | undefined> {
  const reply = await requestJson<any>(conn, SERVICES_PROTOCOL, { op: 'lookup', ...query }, { timeoutMs: SERVICE_LOOKUP_TIMEOUT, ...options })
  if (reply == null || Array.isArray(reply) || !['allowed', 'denied', 'absent'].includes(reply.status)) return undefined
  return {
    status: reply.status,
    ...(typeof reply.name === 'string' ? { name: reply.name } : {}),
    ...(typeof reply.port === 'number' ? { port: reply.port } : {}),
    ownList: reply.ownList === true
  }
}

/**
 * The refusal for a service that exists but is not ours to use, with the
 * command its owner runs to let us in (`ourId` is our peer ID).
 */
export function notAllowedError (target: string, access: ServiceAccess, ourId: string, port?: number): NotAuthorizedError {
  const name = access.name ?? '?'
  const fix = `ask its owner to run: peerup auth add ${ourId}${access.ownList === true ? ` --service ${name}` : ''}`
  return new NotAuthorizedError(port != null
    ? `${target} has a service on port ${port} (${name}) but does not let you use it; ${fix}`
    : `${target} does not let you use its service ${name}; ${fix}`)
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
