import { NameNotFoundError } from '../errors.js'
import type { AbortOptions } from '@libp2p/interface'

/** Where an answer came from. */
export type NameSource = 'local' | 'network' | 'dht' | 'peer-id'

/** A resolved name. */
export interface ResolvedName {
  /** The name that was asked for. */
  name: string
  /** Peer ID string. */
  peerId: string
  /** Known addresses of the peer (may be empty). */
  addrs: string[]
  /** Tier that answered. */
  source: NameSource
  /** Human label of the tier, e.g. `names.yaml` or `relay grewal`. */
  via: string
  /** True when the answer came from the cache. */
  cached?: boolean
}

/** One tier of name resolution. Return `undefined` for "not here". */
export interface NameResolver {
  /** Label used in "tried: …" messages. */
  readonly label: string
  /** Label for one name, e.g. `relay grewal` (defaults to `label`). */
  labelFor?: (name: string) => string
  resolve (name: string, options?: AbortOptions): Promise<ResolvedName | undefined>
}

/** Result of a chain resolution, with the tiers tried. */
export interface ChainResult extends ResolvedName {
  tried: string[]
  /** Addresses the answer had that were left out: a remote's loopback addresses when it is not on this host (see loopback-addrs.ts). */
  droppedAddrs?: string[]
}

/**
 * Resolve through tiers in order; the first answer wins and carries its
 * source. Throws {@link NameNotFoundError} listing every tier tried.
 */
export async function resolveChain (name: string, tiers: NameResolver[], options?: AbortOptions): Promise<ChainResult> {
  const tried: string[] = []
  for (const tier of tiers) {
    let label = tier.label
    try { label = tier.labelFor?.(name) ?? tier.label } catch {}
    tried.push(label)
    let answer: ResolvedName | undefined
    try {
      answer = await tier.resolve(name, options)
    } catch (err: any) {
      if (err?.name === 'InvalidNameError' || err?.name === 'AbortError') throw err
      answer = undefined
    }
    if (answer != null) return { ...answer, tried }
  }
  throw new NameNotFoundError(name, tried)
}
