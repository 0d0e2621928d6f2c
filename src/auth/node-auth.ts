import { unwatchFile, watchFile } from 'node:fs'
import { basename } from 'node:path'
import { logger } from '@libp2p/logger'
import { AUTHORIZED_KEYS_POLL_INTERVAL } from '../constants.js'
import { loadConfig } from '../config/load.js'
import { createAllowLists } from './allow-lists.js'
import type { AllowLists } from './allow-lists.js'
import type { AuthorizedKeys } from './authorized-keys.js'
import type { LoadedConfig } from '../config/load.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { ServiceRegistry } from '../services/service-registry.js'

const log = logger('peerup:auth')

/** What the node's authorization did, for the daemon's log lines (see `PeerupNodeInit.onAuthEvent`). */
export type AuthEvent =
  /** A peer was refused: a connection (`service` absent) or a service stream. */
  | { type: 'denied', peer: string, comment?: string, service?: string, where: string, reason: string }
  /** The config's service → allow-list mapping changed (or SIGHUP reloaded it). */
  | { type: 'lists', changes: string[], summary: string }
  /** The config could not be reloaded: the last good mapping stays. */
  | { type: 'config-error', message: string }

/** Where the gater refuses a remote peer (as opposed to our own outbound dials). */
const INBOUND = new Set(['inbound connection', 'inbound relayed connection'])

/** The service → own allow-list file mapping of a config (absolute paths). */
export function serviceListFiles (cfg: LoadedConfig): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, svc] of Object.entries(cfg.config.services)) {
    if (svc.authorized_keys != null) out[name] = cfg.path(svc.authorized_keys)
  }
  return out
}

/** Init of {@link createNodeAuth}. */
export interface NodeAuthInit {
  /** The node's config (its file is watched for the mapping). */
  config: LoadedConfig
  /** Peer IDs of our relays: always allowed (the relay connection itself), never closed for authorization. @default [] */
  relayIds?: string[]
  /** Called for denials and list changes. */
  onEvent?: (e: AuthEvent) => void
  /**
   * The allow-lists themselves (in memory), instead of the config's
   * `authorized_keys` files: the config's mapping is then not used nor watched.
   */
  lists?: { global: AuthorizedKeys, services?: Record<string, AuthorizedKeys> }
  /**
   * Poll interval of the config watcher (ms).
   *
   * @default 1000
   */
  pollInterval?: number
}

/** What {@link NodeAuth.start} needs from the running node. */
export interface NodeAuthComponents {
  libp2p: PeerupLibp2p
  services: ServiceRegistry
}

/**
 * The authorization of a node: its allow-lists (undefined when gating is
 * off), the gater's policy, and, once started, enforcement. The config file
 * is watched so that a service's `authorized_keys` key that is added,
 * changed or removed takes effect without a restart, as edits of the list
 * files do; each change closes the connections and tunnels the lists no
 * longer allow. A config that does not load keeps the last good mapping
 * (an `authorized_keys` line cannot be half-applied; the error is reported).
 */
export interface NodeAuth {
  /** The allow-lists, or undefined when `security.enable_gating` is false. */
  readonly lists?: AllowLists
  /** Whether our gater lets us talk to `peer` at all (relays always). */
  mayConnect (peer: string): boolean
  /** A peer refused by the gater (its `onDeny`). */
  gaterDenied (peer: string, where: string): void
  /** A peer refused by a service (the registry's `onDeny`). */
  serviceDenied (peer: string, service: string): void
  /** Watch the config and enforce changes (daemon mode). */
  start (components: NodeAuthComponents): void
  /** Re-read the config's mapping and every list now (SIGHUP); returns {@link AllowLists.summary}. */
  reload (): string
  /** Stop watching; close the lists. */
  stop (): void
}

class Auth implements NodeAuth {
  readonly lists?: AllowLists
  private components?: NodeAuthComponents
  private watching = false
  private expiryTimer?: NodeJS.Timeout
  private readonly relayIds: Set<string>
  private readonly onConfigFile = (): void => { this.reloadConfig() }

  constructor (private readonly init: NodeAuthInit) {
    const { config, path } = init.config
    this.relayIds = new Set(init.relayIds ?? [])
    if (config.security.enable_gating) {
      this.lists = init.lists != null
        ? createAllowLists({ globalFile: init.lists.global.file, global: init.lists.global, serviceLists: init.lists.services })
        : createAllowLists({ globalFile: path(config.security.authorized_keys_file), services: serviceListFiles(init.config) })
    }
  }

  mayConnect (peer: string): boolean {
    if (this.lists == null || this.relayIds.has(peer)) return true
    return this.lists.isAllowedAnywhere(peer)
  }

  gaterDenied (peer: string, where: string): void {
    if (!INBOUND.has(where) || this.lists == null) return
    const expired = this.lists.global.entries().find(e => e.peerId === peer && e.expires != null)
    const reason = expired?.expires != null
      ? `its key in ${basename(this.lists.global.file)} expired at ${expired.expires.toISOString()}`
      : `not in ${basename(this.lists.global.file)} nor in any service's allow-list`
    this.init.onEvent?.({ type: 'denied', peer, comment: this.lists.comment(peer), where, reason })
  }

  serviceDenied (peer: string, service: string): void {
    if (this.lists == null) return
    const list = this.lists.ownList(service) ?? this.lists.global
    this.init.onEvent?.({ type: 'denied', peer, comment: this.lists.comment(peer), service, where: `service ${service}`, reason: `not in ${basename(list.file)}` })
  }

  start (components: NodeAuthComponents): void {
    this.components = components
    if (this.lists == null) return
    this.lists.on('change', () => { this.enforce() })
    if (this.followsConfig()) {
      watchFile(this.init.config.file, { interval: this.init.pollInterval ?? AUTHORIZED_KEYS_POLL_INTERVAL, persistent: false }, this.onConfigFile)
      this.watching = true
    }
    // expires= is checked at connect time; this re-check closes connections whose grant has run out
    this.expiryTimer = setInterval(() => { this.enforce() }, AUTHORIZED_KEYS_POLL_INTERVAL * 5)
    this.expiryTimer.unref()
  }

  /** Whether the lists follow the config file's mapping: not for in-memory lists, nor a config that is not from a file (`file: ''`). */
  private followsConfig (): boolean {
    return this.init.lists == null && this.init.config.file !== ''
  }

  /** Apply the config file's current service → list mapping. */
  private reloadConfig (): void {
    if (this.lists == null || !this.followsConfig()) return
    let cfg: LoadedConfig
    try {
      cfg = loadConfig(this.init.config.file)
    } catch (err: any) {
      log.error('reloading %s failed, keeping the last good allow-lists: %s', this.init.config.file, err.message)
      this.init.onEvent?.({ type: 'config-error', message: `${String(err.message)} (the last good allow-lists stay until it is fixed)` })
      return
    }
    const changes = this.lists.setServices(serviceListFiles(cfg))
    if (changes.length > 0) this.init.onEvent?.({ type: 'lists', changes, summary: this.lists.summary() })
  }

  reload (): string {
    if (this.lists == null) return 'gating is off (security.enable_gating: false)'
    this.reloadConfig()
    this.lists.reload()
    this.enforce()
    return this.lists.summary()
  }

  /** Close connections and tunnels that the current lists no longer allow. */
  private enforce (): void {
    const c = this.components
    if (c == null) return
    for (const conn of c.libp2p.getConnections()) {
      const peer = conn.remotePeer.toString()
      if (!this.mayConnect(peer)) {
        log('closing connection of revoked peer %s', peer)
        conn.abort(new Error('peer revoked'))
      }
    }
    for (const t of c.services.tunnels()) {
      if (!c.services.isAuthorized(t.peer, t.service)) t.abort()
    }
  }

  stop (): void {
    clearInterval(this.expiryTimer)
    if (this.watching) unwatchFile(this.init.config.file, this.onConfigFile)
    this.watching = false
    this.lists?.close()
  }
}

/** Create a node's authorization (see {@link NodeAuth}). */
export function createNodeAuth (init: NodeAuthInit): NodeAuth {
  return new Auth(init)
}
