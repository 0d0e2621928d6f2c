/**
 * Who a peer is, for `peerup status`: its name (names.yaml first, then the
 * names our relays have answered with) and its comment in our
 * authorized_keys files (global first, then per service). Read from the
 * files at each call: status is rare, and the files are small.
 */
import { existsSync, readFileSync } from 'node:fs'
import { parseAuthorizedKeys } from '../auth/authorized-keys.js'
import { NAME_CACHE_FILE } from '../constants.js'
import { readNameCache } from '../naming/cached-resolver.js'
import { readNamesFile } from '../naming/local-file-resolver.js'
import { parseName } from '../naming/name.js'
import type { LoadedConfig } from '../config/load.js'

/** A peer's name and comment, when known. */
export interface PeerLabel {
  name: string | null
  comment: string | null
}

/** Canonical form of a name, or undefined for one that does not parse. */
function canonical (name: string): string | undefined {
  try { return parseName(name).canonical } catch { return undefined }
}

/** The labels of every peer this config knows about, by peer ID. */
export function peerLabels (loaded: LoadedConfig): (peerId: string) => PeerLabel {
  const { config } = loaded
  const names = new Map<string, string>()
  // names.yaml wins; of the relay answers, a full <host>.<network> beats a bare host
  let local: Array<{ name: string, peerId: string }> = []
  try { local = readNamesFile(loaded.path(config.names_file)) } catch {}
  for (const e of local) if (!names.has(e.peerId)) names.set(e.peerId, e.name)
  const learnt = readNameCache(loaded.path(NAME_CACHE_FILE))
    .map(e => ({ peerId: e.peerId, name: canonical(e.name) }))
    .filter((e): e is { peerId: string, name: string } => e.name != null)
    .sort((a, b) => b.name.split('.').length - a.name.split('.').length)
  for (const e of learnt) if (!names.has(e.peerId)) names.set(e.peerId, e.name)

  const comments = new Map<string, string>()
  const files = [config.security.authorized_keys_file, ...Object.values(config.services).map(s => s.authorized_keys).filter((f): f is string => f != null)]
  for (const f of files) {
    const file = loaded.path(f)
    if (!existsSync(file)) continue
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { continue }
    for (const e of parseAuthorizedKeys(text, file).entries) {
      if (e.comment != null && !comments.has(e.peerId)) comments.set(e.peerId, e.comment)
    }
  }
  return (peerId) => ({ name: names.get(peerId) ?? null, comment: comments.get(peerId) ?? null })
}
