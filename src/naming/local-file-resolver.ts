import { existsSync, statSync } from 'node:fs'
import { basename } from 'node:path'
import { namesFileSchema } from '../config/schema.js'
import { loadYamlFile } from '../config/yaml-file.js'
import { parsePeerId } from '../auth/identity.js'
import { parseName } from './name.js'
import type { NameResolver, ResolvedName } from './resolver.js'

/** A names-file entry after normalisation. */
export interface LocalName {
  name: string
  peerId: string
  addrs: string[]
}

/** Read a names file into canonical entries (missing file: none). */
export function readNamesFile (file: string): LocalName[] {
  if (!existsSync(file)) return []
  const parsed = loadYamlFile(file, namesFileSchema)
  return Object.entries(parsed.names).map(([name, entry]) => {
    const canonical = parseName(name).canonical
    const peerId = typeof entry === 'string' ? entry : entry.peer_id
    parsePeerId(peerId)
    return { name: canonical, peerId, addrs: typeof entry === 'string' ? [] : entry.addrs }
  })
}

/** Init of {@link localFileResolver}. */
export interface LocalFileResolverInit {
  /** Path of `names.yaml`. Re-read when it changes (mtime). */
  file: string
  /** The node's own network, so `laptop` also matches `laptop.<network>`. */
  network?: string
}

/** Tier 1: the local names file (exact names and aliases). */
export function localFileResolver (init: LocalFileResolverInit): NameResolver {
  // parsed entries, kept while the file's identity, size and mtime stay the same
  let cached: { key: string, entries: LocalName[] } | undefined
  const entriesNow = (): LocalName[] => {
    let key = 'missing'
    try {
      const st = statSync(init.file, { bigint: true })
      key = `${st.ino}:${st.size}:${st.mtimeNs}`
    } catch {}
    if (cached?.key !== key) cached = { key, entries: key === 'missing' ? [] : readNamesFile(init.file) }
    return cached.entries
  }
  return {
    label: basename(init.file),
    async resolve (name: string): Promise<ResolvedName | undefined> {
      const wanted = parseName(name)
      const entries = entriesNow()
      const candidates = [wanted.canonical]
      if (wanted.network == null && init.network != null) candidates.push(`${wanted.host}.${init.network}`)
      for (const c of candidates) {
        const hit = entries.find(e => e.name === c)
        if (hit != null) return { name, peerId: hit.peerId, addrs: hit.addrs, source: 'local', via: basename(init.file) }
      }
      return undefined
    }
  }
}
