import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { NAME_RELAY_TIMEOUT, NAMES_PROTOCOL } from '../constants.js'
import { requestJson } from '../wire/json-exchange.js'
import { parsePeerId } from '../auth/identity.js'
import { parseName } from './name.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { NameResolver, ResolvedName } from './resolver.js'
import type { AbortOptions } from '@libp2p/interface'

const log = logger('peerup:names:relay')

/** Init of {@link relayResolver}. */
export interface RelayResolverInit {
  libp2p: PeerupLibp2p
  /** This node's network (a bare `laptop` means `laptop.<network>`). */
  network?: string
  /** Relays serving a network: own network → config `relays`, others → config `networks`. */
  relaysFor: (network: string) => string[]
  /**
   * Per-relay timeout (ms).
   *
   * @default 5000
   */
  timeoutMs?: number
}

/**
 * Tier 2: ask the relay(s) of the name's network. The first relay that knows
 * the name answers, with the peer's current addresses.
 */
export function relayResolver (init: RelayResolverInit): NameResolver {
  return {
    label: 'relay',
    labelFor: (name: string) => `relay ${parseName(name).network ?? init.network ?? '?'}`,
    async resolve (name: string, options?: AbortOptions): Promise<ResolvedName | undefined> {
      const parsed = parseName(name)
      if (parsed.network == null && looksLikePeerId(name)) return undefined
      const network = parsed.network ?? init.network
      if (network == null) return undefined
      for (const relay of init.relaysFor(network)) {
        try {
          const conn = await init.libp2p.dial(multiaddr(relay), { signal: AbortSignal.timeout(init.timeoutMs ?? NAME_RELAY_TIMEOUT) })
          const reply = await requestJson<any>(conn, NAMES_PROTOCOL, { op: 'resolve', network, host: parsed.host }, { timeoutMs: init.timeoutMs ?? NAME_RELAY_TIMEOUT, signal: options?.signal })
          if (reply?.found === true && typeof reply.peerId === 'string') {
            return { name, peerId: reply.peerId, addrs: Array.isArray(reply.addrs) ? reply.addrs : [], source: 'network', via: `relay ${network}` }
          }
        } catch (err: any) {
          log('relay %s did not answer for %s: %s', relay, name, err.message)
        }
      }
      return undefined
    }
  }
}

function looksLikePeerId (name: string): boolean {
  try { parsePeerId(name); return true } catch { return false }
}

/** Register this node's host name in its network on one relay. */
export async function registerName (libp2p: PeerupLibp2p, relay: string, network: string, host: string): Promise<{ ok: boolean, error?: string }> {
  const conn = await libp2p.dial(multiaddr(relay), { signal: AbortSignal.timeout(NAME_RELAY_TIMEOUT) })
  return await requestJson(conn, NAMES_PROTOCOL, { op: 'register', network, host }, { timeoutMs: NAME_RELAY_TIMEOUT })
}
