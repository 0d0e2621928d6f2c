/**
 * The optional UDP hole-punching transport: WebRTC private-to-private
 * (`@libp2p/webrtc`, native `node-datachannel`). Two peers that both sit
 * behind NAT signal over their relayed connection, learn their public UDP
 * addresses from STUN (by default their relays' own STUN responders) and
 * connect directly. If the native addon cannot load, peerup keeps working
 * over TCP and relays, and {@link udpTransportStatus} says why.
 */
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import { STUN_PORT } from '../constants.js'

const log = logger('peerup:udp')

/** Whether the direct-UDP transport is usable in this process, and why not. */
export interface UdpTransportStatus {
  available: boolean
  /** Why it is not available (the load error). */
  reason?: string
}

/** The `@libp2p/webrtc` transport factory, as {@link loadUdpTransport} hands it out. */
export type WebRTCFactory = (init?: { rtcConfiguration?: () => { iceServers: Array<{ urls: string[] }> }, maxEarlyStreams?: number, dataChannel?: Record<string, unknown> }) => (components: any) => any

let loaded: Promise<{ factory?: WebRTCFactory, status: UdpTransportStatus }> | undefined
/** node-datachannel's `cleanup()`, once the addon has loaded. */
let cleanup: (() => void) | undefined
/** Started libp2p nodes of this process that carry the transport. */
let running = 0

/** Options of {@link loadUdpTransport}. */
export interface UdpTransportOptions {
  /**
   * Turn the transport off, with this reason (reported as the status's
   * `reason`): the addon is not loaded. The library reads no environment
   * variable: `loadConfig()` turns `PEERUP_DISABLE_UDP=1` into this.
   *
   * @default undefined (load it)
   */
  disabled?: string
}

/**
 * Load `@libp2p/webrtc` and its native addon once per process. Never
 * throws: a missing or broken addon yields `{ available: false, reason }`.
 * `options.disabled` turns the transport off without loading anything.
 */
export async function loadUdpTransport (options: UdpTransportOptions = {}): Promise<{ factory?: WebRTCFactory, status: UdpTransportStatus }> {
  if (options.disabled != null) return { status: { available: false, reason: options.disabled } }
  loaded ??= (async () => {
    try {
      // importing it loads the native addon (node-datachannel/polyfill): this is what fails on an unsupported platform
      const mod = await import('@libp2p/webrtc')
      // the addon @libp2p/webrtc runs on (its polyfill and this are one module instance)
      cleanup = await import('node-datachannel').then(m => m.cleanup, (err: Error) => {
        log('node-datachannel cleanup() not found (%s): a one-shot command may linger after its last WebRTC attempt', err.message)
        return undefined
      })
      return { factory: mod.webRTC as unknown as WebRTCFactory, status: { available: true } }
    } catch (err: any) {
      const reason = `the WebRTC addon (node-datachannel) did not load: ${String(err?.message ?? err).split('\n')[0]}`
      log('direct UDP unavailable: %s', reason)
      return { status: { available: false, reason } }
    }
  })()
  return await loaded
}

/**
 * Count `libp2p` (a node built with the transport) as a user of the native
 * addon while it runs. When the last such node of the process stops, the
 * addon's threads are stopped too: once any RTCPeerConnection has existed
 * (a hole-punching attempt, even one aborted by the stop), node-datachannel
 * keeps the process alive until its `cleanup()` runs, so a one-shot command
 * would never exit. A node started later re-initialises the addon.
 */
export function holdUdpTransportWhileRunning (libp2p: { addEventListener: (type: 'start' | 'stop', fn: () => void) => void }): void {
  libp2p.addEventListener('start', () => { running++ })
  libp2p.addEventListener('stop', () => {
    running = Math.max(0, running - 1)
    if (running > 0 || cleanup == null) return
    log('last node with the UDP transport stopped: stopping the WebRTC addon')
    try { cleanup() } catch (err: any) { log.error('node-datachannel cleanup failed: %s', err?.message ?? err) }
  })
}

/** The status of the direct-UDP transport after {@link loadUdpTransport}. */
export async function udpTransportStatus (options: UdpTransportOptions = {}): Promise<UdpTransportStatus> {
  return (await loadUdpTransport(options)).status
}

/**
 * STUN servers derived from relay multiaddrs: `stun:<relay-host>:3478` for
 * each relay with an `ip4`, `ip6` or `dns*` host that is not loopback
 * (a STUN answer from loopback tells nothing). Duplicates removed.
 */
export function stunServersFromRelays (relays: string[], port: number = STUN_PORT): string[] {
  const out = new Set<string>()
  for (const r of relays) {
    try {
      const c = multiaddr(r).getComponents()[0]
      if (c?.value == null) continue
      if (c.name === 'ip4' && !c.value.startsWith('127.')) out.add(`stun:${c.value}:${port}`)
      else if (c.name === 'ip6' && c.value !== '::1') out.add(`stun:[${c.value}]:${port}`)
      else if ((c.name === 'dns4' || c.name === 'dns6' || c.name === 'dns') && c.value !== 'localhost') out.add(`stun:${c.value}:${port}`)
    } catch {}
  }
  return [...out]
}

/** `host:port`, `stun:host:port` or `stun:host` → a `stun:` URL (default port 3478). */
export function normalizeStunUrl (s: string): string {
  const bare = s.replace(/^stun:/, '')
  const hasPort = /^\[.*\]:\d+$/.test(bare) || (/^[^:\]]+:\d+$/.test(bare))
  return `stun:${hasPort ? bare : `${bare}:${STUN_PORT}`}`
}
