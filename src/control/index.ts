/**
 * `peerup/control`: the light half of the control API, for programs that
 * talk to a running daemon. It loads no libp2p module (the daemon holds the
 * mesh), so a client of it starts as fast as Node itself.
 *
 * @example
 *
 * ```ts
 * import { createControlClient, controlSocketPath, findConfigFile } from 'peerup/control'
 * import { dirname } from 'node:path'
 *
 * const client = createControlClient({ socketPath: controlSocketPath(dirname(findConfigFile())) })
 * const status = await client.status()
 * console.log(status.peerId, status.peers.map(p => `${p.peerId} ${p.path}`))
 * ```
 */
export { createControlClient, tunnelStdio, DaemonError, type ControlClient, type ControlClientInit, type ControlPingOptions, type ControlTunnel, type ControlTunnelOptions, type ControlTunnelStats, type ControlConnectResult } from './client.js'
export { createDaemonProxy, type DaemonProxy, type DaemonProxyInit } from './daemon-proxy.js'
export { controlSocketPath, MAX_SOCKET_PATH } from './socket-path.js'
export { FRAME, FRAME_HEADER, MAX_FRAME_PAYLOAD, encodeFrame, frameHeader, frameDecoder, type FrameHandlers } from './frames.js'
export type { DaemonStatus, PeerStatus, TunnelStatus, GatewayStatus } from './status.js'
export { findConfigFile, peerupHome } from '../config/locate.js'
export { queryStatusSocket } from '../relay/status-client.js'
export { DaemonNotRunningError, UsageError, PeerupError } from '../errors.js'
