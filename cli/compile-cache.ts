import module from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * Keep V8's compiled code of the CLI on disk, so later starts skip most of
 * the parsing (Node ≥ 22.1; a no-op on Node 20, which has no
 * `module.enableCompileCache`). The cache is per user
 * (`$XDG_CACHE_HOME/peerup/compile-cache`, default `~/.cache/…`), not Node's
 * default shared tmp dir: its entries are code that runs as this user.
 * `NODE_COMPILE_CACHE` (Node's own switch) wins; `NODE_DISABLE_COMPILE_CACHE=1`
 * turns it off. Never throws: a cache that cannot be written only costs speed.
 */
export function enableCompileCache (): void {
  const enable = (module as { enableCompileCache?: (dir?: string) => unknown }).enableCompileCache
  if (typeof enable !== 'function' || process.env.NODE_COMPILE_CACHE != null || process.env.NODE_DISABLE_COMPILE_CACHE != null) return
  try {
    enable(join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'peerup', 'compile-cache'))
  } catch {}
}
