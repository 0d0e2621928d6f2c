import { parsePeerId } from '../auth/identity.js'
import type { NameResolver, ResolvedName } from './resolver.js'

/** The last tier: a literal peer ID resolves to itself. */
export function peerIdResolver (): NameResolver {
  return {
    label: 'peer ID',
    async resolve (name: string): Promise<ResolvedName | undefined> {
      try {
        return { name, peerId: parsePeerId(name).toString(), addrs: [], source: 'peer-id', via: 'peer ID' }
      } catch {
        return undefined
      }
    }
  }
}
