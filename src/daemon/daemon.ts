/**
 * `createDaemon`: a peerup node as a long-running library object, as
 * Tailscale's `tsnet.Server` is. It builds the node, its control API
 * (`<config dir>/peerup.sock`), the gateways (SOCKS5, DNS, TUN mode) and owns
 * start, reload, ordered stop and the reservation/STUN events. `peerup daemon`
 * and `peerup gateway` are flags, output and signals around it.
 */
import { EventEmitter } from 'node:events'
import { RESERVATION_REPORT_INTERVAL } from '../constants.js'
import { UsageError } from '../errors.js'
import { createControlServer } from '../control/server.js'
import { createPeerupNode } from '../node/node.js'
import { startGateways } from '../gateway/gateway.js'
import { checkStunServers, stunCheckProblem } from '../paths/stun-probe.js'
import type { AuthEvent } from '../auth/node-auth.js'
import type { LoadedConfig } from '../config/load.js'
import type { ControlServer } from '../control/server.js'
import type { GatewayStatus } from '../control/status.js'
import type { GatewayOptions, Gateways } from '../gateway/gateway.js'
import type { PeerupNode } from '../node/node.js'
import type { TunEvent } from '../tun/tun-mode.js'

/** Init of {@link createDaemon}. */
export interface DaemonInit {
  /** The loaded config (role `home` or `client`). */
  config: LoadedConfig
  /**
   * Which gateways to run, over the config's `gateway:` section (`peerup gateway`'s flags).
   *
   * @default {} (the config's `gateway:` section decides)
   */
  gateways?: Omit<GatewayOptions, 'onTunEvent'>
  /**
   * The control socket's path.
   *
   * @default `<config dir>/peerup.sock`
   */
  socketPath?: string
  /**
   * Report an unchanged reservation failure of a relay again only after this long (ms).
   *
   * @default RESERVATION_REPORT_INTERVAL (60000)
   */
  reservationReportInterval?: number
}

/** A failed reservation attempt, as {@link DaemonEvents} reports it. */
export interface ReservationFailure {
  relay: string
  /** One readable line. */
  error: string
  /** Attempts since start. */
  attempts: number
  /** The first failure since the relay was last reserved (or since start). */
  first: boolean
}

/**
 * Events of a {@link Daemon}. Reservation and STUN events start once
 * `start()` has resolved; the state at that moment (one `reserved`,
 * `reservation-failed` or `waiting` per relay) follows right after it.
 */
export interface DaemonEvents {
  /** A relay reservation is up. */
  reserved: [relay: string]
  /** A reservation we held is gone; the watchdog retries. */
  lost: [relay: string]
  /** A reservation attempt failed: the first, then an unchanged error at most once per `reservationReportInterval`. */
  'reservation-failed': [failure: ReservationFailure]
  /** At start: no reservation on this relay yet, and no attempt has failed. */
  waiting: [relay: string]
  /** Something the operator should fix (a STUN server that does not answer, a home nothing can reach). */
  warning: [message: string]
  /** Refusals and allow-list changes (as the node's `onAuthEvent`). */
  auth: [event: AuthEvent]
  /** TUN mode's drops, unreachable peers and links. */
  tun: [event: TunEvent]
  /** The control API listens (before the node starts): its socket, and the metrics address when one is configured. */
  control: [info: { socketPath: string, metricsAddress: string | null }]
  /** `stop()` began: its grace period and the tunnels still open. */
  stopping: [info: { graceSeconds: number, tunnels: number }]
}

/** A running (or startable) daemon. */
export interface Daemon extends EventEmitter<DaemonEvents> {
  readonly config: LoadedConfig
  readonly node: PeerupNode
  readonly control: ControlServer
  /** The running gateways (after `start()`). */
  readonly gateways: Gateways | undefined
  /** The gateways in the words of `peerup status` (`host:port`, `peer0 10.64.x.y/16`, or null each). */
  gatewayStatus (): GatewayStatus
  /**
   * Listen on the control socket (a second daemon for the same config stops
   * here), start the node, then the gateways. A failure stops what started.
   */
  start (): Promise<void>
  /** Re-read the allow-lists (SIGHUP). Returns each list and its number of peers. */
  reload (): string
  /** Ordered stop: the control API, the gateways, then the node with its grace period. Once only. */
  stop (): Promise<void>
}

class PeerupDaemon extends EventEmitter<DaemonEvents> implements Daemon {
  readonly config: LoadedConfig
  readonly node: PeerupNode
  readonly control: ControlServer
  gateways: Gateways | undefined
  private ready = false
  private stopping?: Promise<void>
  private readonly reported = new Map<string, { error: string, at: number }>()
  private stunProblem: string | undefined
  private stunChecking = false

  constructor (private readonly init: DaemonInit, node: PeerupNode) {
    super()
    this.config = init.config
    this.node = node
    node.reservations?.on('reserved', (relay) => {
      this.reported.delete(relay)
      if (!this.ready) return
      this.emit('reserved', relay)
      this.checkStun()
    })
    node.reservations?.on('lost', (relay) => {
      this.reported.delete(relay)
      if (this.ready) this.emit('lost', relay)
    })
    node.reservations?.on('failed', (relay, error, attempts) => { if (this.ready) this.reportFailure(relay, error, attempts) })
    this.control = createControlServer({
      node,
      config: init.config,
      socketPath: init.socketPath,
      gateways: () => this.gatewayStatus(),
      tun: () => this.gateways?.tun
    })
  }

  gatewayStatus (): GatewayStatus {
    const g = this.gateways
    return {
      socks: g?.socks != null ? `${g.socks.address.host}:${g.socks.address.port}` : null,
      dns: g?.dns != null ? `${g.dns.address.host}:${g.dns.address.port}` : null,
      tun: g?.tun != null ? `${g.tun.interface} ${g.tun.address}/16` : null,
      vip: g?.socks != null || g?.dns != null || g?.tun != null ? g.vip : null
    }
  }

  private reportFailure (relay: string, error: string, attempts: number): void {
    const last = this.reported.get(relay)
    const now = Date.now()
    if (last != null && last.error === error && now - last.at < (this.init.reservationReportInterval ?? RESERVATION_REPORT_INTERVAL)) return
    this.reported.set(relay, { error, at: now })
    this.emit('reservation-failed', { relay, error, attempts, first: last == null })
  }

  /** The WebRTC agent's own STUN fails silently: check the servers ourselves once a relay is up. */
  private checkStun (): void {
    const { node } = this
    if (this.stunChecking || !node.udp.available || node.stunServers.length === 0) return
    this.stunChecking = true
    checkStunServers(node.stunServers).then((checks) => {
      const problem = stunCheckProblem(checks)
      if (problem != null && problem !== this.stunProblem) this.emit('warning', problem)
      this.stunProblem = problem
    }, () => {}).finally(() => { this.stunChecking = false })
  }

  async start (): Promise<void> {
    const { node, control } = this
    const cfg = this.config
    await control.start()
    this.emit('control', { socketPath: control.socketPath, metricsAddress: control.metricsAddress })
    await node.start().catch(async (err) => {
      await control.stop()
      throw err
    })
    this.gateways = await startGateways(node, cfg, { ...this.init.gateways, onTunEvent: (e) => { this.emit('tun', e) } }).catch(async (err) => {
      await control.stop()
      await node.stop({ graceMs: 0 }).catch(() => {})
      throw err
    })
    this.ready = true
    // after the caller's own "ready" output, which follows this promise
    setImmediate(() => { this.reportInitial() })
  }

  private reportInitial (): void {
    const cfg = this.config.config
    // a home with a port forward (announce) or UPnP may be reachable without a relay
    if (cfg.role === 'home' && cfg.relays.length === 0 && cfg.network.announce.length === 0 && !cfg.network.upnp) {
      this.emit('warning', `no relays in ${this.config.file}: nothing outside this node's network can reach it; add the relay's address (as \`peerup relay serve\` prints it, ending in /p2p/<relay-id>) under relays: and restart`)
    }
    for (const s of this.node.reservations?.state() ?? []) {
      if (s.reserved) { this.emit('reserved', s.relay); this.checkStun() } else if (s.lastError != null) this.reportFailure(s.relay, s.lastError, s.attempts)
      else this.emit('waiting', s.relay)
    }
  }

  reload (): string {
    return this.node.reloadAuth()
  }

  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      this.emit('stopping', { graceSeconds: this.config.config.daemon.shutdown_grace_seconds, tunnels: this.node.services.tunnels().length })
      this.ready = false
      await this.control.stop().then(async () => { await this.gateways?.stop() }).catch(() => {})
      await this.node.stop()
    })()
    await this.stopping
  }
}

/**
 * Build a daemon from a loaded config (call `start()`). Listen to its
 * events before `start()`: the node's refusals (`auth`) can come as soon as
 * it listens.
 *
 * @example
 *
 * ```ts
 * const daemon = await createDaemon({ config: loadConfig() })
 * daemon.on('reserved', relay => { console.error(`reserved on relay ${relay}`) })
 * await daemon.start()
 * process.on('SIGHUP', () => { daemon.reload() })
 * process.on('SIGTERM', () => { void daemon.stop() })
 * ```
 */
export async function createDaemon (init: DaemonInit): Promise<Daemon> {
  if (init.config.config.role === 'relay') throw new UsageError(`${init.config.file}: role is "relay"; use "peerup relay serve"`)
  // eslint-disable-next-line prefer-const
  let daemon: PeerupDaemon | undefined
  const early: AuthEvent[] = []
  const node = await createPeerupNode({
    config: init.config,
    onAuthEvent: (e) => { if (daemon != null) daemon.emit('auth', e); else early.push(e) }
  })
  daemon = new PeerupDaemon(init, node)
  const d = daemon
  if (early.length > 0) setImmediate(() => { for (const e of early) d.emit('auth', e) })
  return daemon
}
