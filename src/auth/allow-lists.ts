import { EventEmitter } from 'node:events'
import { basename } from 'node:path'
import { logger } from '@libp2p/logger'
import { createAuthorizedKeys } from './authorized-keys.js'
import type { AuthorizedKeys } from './authorized-keys.js'

const log = logger('peerup:auth')

/** Events of {@link AllowLists}. */
export interface AllowListsEvents {
  /**
   * A list was reloaded or the service → list mapping changed: re-check
   * connections and tunnels. `changes` describes a mapping change in words
   * (empty for a reloaded file).
   */
  change: [{ changes: string[] }]
}

/** Init of {@link createAllowLists}. */
export interface AllowListsInit {
  /** The global authorized_keys file (absolute path); ignored when `global` is given. */
  globalFile: string
  /** Services with their own allow-list: service name → authorized_keys file (absolute path). @default {} */
  services?: Record<string, string>
  /** The global list itself, instead of `globalFile` (an in-memory list). */
  global?: AuthorizedKeys
  /** Services with their own list given as the list itself (an in-memory list), beside `services`. @default {} */
  serviceLists?: Record<string, AuthorizedKeys>
  /**
   * Poll interval of the file watchers (ms).
   *
   * @default 1000
   */
  pollInterval?: number
}

/**
 * A node's allow-lists: the global authorized_keys and the per-service
 * ones, with the service → file mapping that the config gives. The mapping
 * can be replaced while the node runs ({@link AllowLists.setServices}): a
 * list that no service names any more is closed and grants nothing, a newly
 * named file is opened (a missing or unsafe file grants nothing until fixed).
 */
export interface AllowLists extends EventEmitter<AllowListsEvents> {
  /** The global list (services without their own list use it). */
  readonly global: AuthorizedKeys
  /** The service's own list, if it has one. */
  ownList (service: string): AuthorizedKeys | undefined
  /** Whether `peer` may use `service`: its own list if it has one, else the global list. */
  isAuthorized (peer: string, service: string): boolean
  /** Whether any list (global, or any service's) grants `peer`: the connection gater's question. */
  isAllowedAnywhere (peer: string): boolean
  /** Services whose own list grants `peer`. */
  servicesAllowing (peer: string): string[]
  /** The comment of `peer` in any list (for log lines). */
  comment (peer: string): string | undefined
  /** The current mapping: service → file. */
  services (): Record<string, string>
  /**
   * Replace the mapping (a config reload). Emits `change` and returns the
   * changes in words when anything changed.
   */
  setServices (services: Record<string, string>): string[]
  /** One line: each list with its number of peers, e.g. `global authorized_keys (2 peers); web: web_authorized_keys (1 peer)`. */
  summary (): string
  /** Re-read every file now (SIGHUP). */
  reload (): void
  /** Stop watching every file. */
  close (): void
}

const peers = (n: number): string => `${n} peer${n === 1 ? '' : 's'}`

class Lists extends EventEmitter<AllowListsEvents> implements AllowLists {
  readonly global: AuthorizedKeys
  /** Open lists by file (services naming one file share it; the global file is the global list). */
  private readonly byFile = new Map<string, AuthorizedKeys>()
  private mapping: Record<string, string> = {}
  private closed = false

  constructor (private readonly init: AllowListsInit) {
    super()
    this.global = this.watch(init.global ?? createAuthorizedKeys({ file: init.globalFile, pollInterval: init.pollInterval }))
    this.byFile.set(this.global.file, this.global)
    for (const [service, list] of Object.entries(init.serviceLists ?? {})) {
      if (!this.byFile.has(list.file)) this.byFile.set(list.file, this.watch(list))
      this.mapping[service] = list.file
    }
    // the node's start-up lists: an unsafe file stops the start, as before
    for (const [service, file] of Object.entries(init.services ?? {})) {
      if (!this.byFile.has(file)) this.byFile.set(file, this.watch(createAuthorizedKeys({ file, pollInterval: init.pollInterval })))
      this.mapping[service] = file
    }
  }

  private watch (list: AuthorizedKeys): AuthorizedKeys {
    list.on('change', () => { this.emit('change', { changes: [] }) })
    return list
  }

  ownList (service: string): AuthorizedKeys | undefined {
    const file = this.mapping[service]
    return file != null ? this.byFile.get(file) : undefined
  }

  isAuthorized (peer: string, service: string): boolean {
    return (this.ownList(service) ?? this.global).isAuthorized(peer)
  }

  isAllowedAnywhere (peer: string): boolean {
    for (const l of this.byFile.values()) if (l.isAuthorized(peer)) return true
    return false
  }

  servicesAllowing (peer: string): string[] {
    return Object.keys(this.mapping).filter(s => this.ownList(s)?.isAuthorized(peer) === true).sort()
  }

  comment (peer: string): string | undefined {
    for (const l of this.byFile.values()) {
      const c = l.comment(peer)
      if (c != null) return c
    }
    return undefined
  }

  services (): Record<string, string> { return { ...this.mapping } }

  setServices (services: Record<string, string>): string[] {
    if (this.closed) return []
    const changes: string[] = []
    for (const name of [...new Set([...Object.keys(this.mapping), ...Object.keys(services)])].sort()) {
      const before = this.mapping[name]
      const after = services[name]
      if (before === after) continue
      changes.push(after == null
        ? `service ${name} now uses the global list`
        : `service ${name} now uses its own list ${basename(after)}`)
    }
    if (changes.length === 0) return []
    this.mapping = { ...services }
    const wanted = new Set([this.global.file, ...Object.values(services)])
    for (const [file, list] of [...this.byFile]) {
      if (wanted.has(file)) continue
      list.close()
      this.byFile.delete(file)
    }
    for (const file of wanted) {
      // opened while running: a missing or unsafe file grants nothing until fixed, it does not stop the node
      if (!this.byFile.has(file)) this.byFile.set(file, this.watch(createAuthorizedKeys({ file, pollInterval: this.init.pollInterval, strict: false })))
    }
    for (const c of changes) log('%s', c)
    this.emit('change', { changes })
    return changes
  }

  summary (): string {
    // a file that could not be read (unsafe mode, say) grants nothing: say why, so it gets fixed
    const state = (l?: AuthorizedKeys): string => {
      const failed = l?.problems().find(p => p.line === 0)
      return `${peers(l?.entries().length ?? 0)}${failed != null ? `; grants nothing: ${failed.message}` : ''}`
    }
    const own = Object.entries(this.mapping).sort(([a], [b]) => a.localeCompare(b))
      .map(([name, file]) => `${name}: ${basename(file)} (${state(this.byFile.get(file))})`)
    return [`global ${basename(this.global.file)} (${state(this.global)})`, ...own].join('; ')
  }

  reload (): void {
    for (const l of this.byFile.values()) l.reload()
  }

  close (): void {
    this.closed = true
    for (const l of this.byFile.values()) l.close()
  }
}

/** Open a node's allow-lists (see {@link AllowLists}). */
export function createAllowLists (init: AllowListsInit): AllowLists {
  return new Lists(init)
}
