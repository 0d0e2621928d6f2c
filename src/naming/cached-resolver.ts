import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { writeFileAtomic } from '../config/atomic-write.js'
import { NAME_CACHE_TTL, NAME_NEGATIVE_CACHE_TTL } from '../constants.js'
import type { NameResolver, ResolvedName } from './resolver.js'
import type { AbortOptions } from '@libp2p/interface'

/** Init of {@link cachedResolver}. */
export interface CachedResolverInit {
  /**
   * How long an answer is reused (ms).
   *
   * @default 300000
   */
  ttl?: number
  /**
   * How long a miss is remembered (ms).
   *
   * @default 10000
   */
  negativeTtl?: number
  /** Persist the cache in this JSON file, so one-shot CLI runs share it. */
  file?: string
  /** Clock, for tests. @default Date.now */
  now?: () => number
}

interface Entry { at: number, answer: ResolvedName | null }

/**
 * Wrap a tier with a TTL cache (positive and negative). Cached answers carry
 * `cached: true`.
 */
export function cachedResolver (inner: NameResolver, init: CachedResolverInit = {}): NameResolver & { clear: () => void } {
  const ttl = init.ttl ?? NAME_CACHE_TTL
  const negativeTtl = init.negativeTtl ?? NAME_NEGATIVE_CACHE_TTL
  const now = init.now ?? Date.now
  let mem = new Map<string, Entry>()
  const load = (): void => {
    if (init.file == null || !existsSync(init.file)) return
    try { mem = new Map(Object.entries(JSON.parse(readFileSync(init.file, 'utf8')))) } catch { mem = new Map() }
  }
  const save = (): void => {
    if (init.file == null) return
    try {
      mkdirSync(dirname(init.file), { recursive: true, mode: 0o700 })
      writeFileAtomic(init.file, JSON.stringify(Object.fromEntries(mem)), { mode: 0o600 })
    } catch {}
  }
  load()
  return {
    label: inner.label,
    labelFor: inner.labelFor,
    clear: () => { mem.clear(); save() },
    async resolve (name: string, options?: AbortOptions): Promise<ResolvedName | undefined> {
      const key = name.toLowerCase()
      const hit = mem.get(key)
      if (hit != null) {
        const age = now() - hit.at
        if (hit.answer != null && age < ttl) return { ...hit.answer, name, cached: true }
        if (hit.answer == null && age < negativeTtl) return undefined
      }
      const answer = await inner.resolve(name, options)
      mem.set(key, { at: now(), answer: answer ?? null })
      save()
      return answer
    }
  }
}

/**
 * The names a cache file has answered with (`[{name, peerId}]`, lower-cased
 * as asked, stale ones included): what a node has learnt from its relays.
 * A missing or unreadable file has none.
 */
export function readNameCache (file: string): Array<{ name: string, peerId: string }> {
  if (!existsSync(file)) return []
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Entry>
    return Object.entries(raw).flatMap(([name, e]) => typeof e?.answer?.peerId === 'string' ? [{ name, peerId: e.answer.peerId }] : [])
  } catch {
    return []
  }
}
