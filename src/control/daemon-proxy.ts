/**
 * `peerup proxy` through a running daemon: a local TCP listener whose every
 * connection becomes a control-socket tunnel. The daemon dials (on its direct
 * paths, if it has them) and counts the bytes in its status. No libp2p here.
 */
import { createServer } from 'node:net'
import { createControlClient, tunnelStdio } from './client.js'
import type { ControlClient, ControlTunnelStats } from './client.js'
import type { Server } from 'node:net'

/** Init of {@link createDaemonProxy}. */
export interface DaemonProxyInit {
  /** The daemon's control socket. */
  socketPath: string
  target: string
  service: string
  /** Local port (0: any free one). */
  port: number
  /**
   * Local address to listen on.
   *
   * @default '127.0.0.1'
   */
  bind?: string
  /** @default 'auto' */
  path?: 'auto' | 'direct' | 'relay'
  /** A connection's tunnel could not be opened (the connection was reset). */
  onRefused?: (err: Error) => void
  /** A tunnel ended. */
  onEnd?: (stats: ControlTunnelStats) => void
}

/** A running daemon-backed proxy. */
export interface DaemonProxy {
  /** The bound port. */
  readonly port: number
  /** Stop listening (tunnels already open continue). */
  close (): Promise<void>
}

/** Listen on a local port and forward each connection through the daemon. */
export async function createDaemonProxy (init: DaemonProxyInit): Promise<DaemonProxy> {
  const client: ControlClient = createControlClient({ socketPath: init.socketPath })
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => {})
    client.openTunnel(init.target, init.service, { path: init.path, origin: 'proxy' }).then(async tunnel => {
      const stats = await tunnelStdio(tunnel, socket, socket)
      // a reset stays a reset for the local application
      if (stats.clean) socket.destroy()
      else if (!socket.destroyed) socket.resetAndDestroy()
      init.onEnd?.(stats)
    }, (err: Error) => {
      if (!socket.destroyed) socket.resetAndDestroy()
      init.onRefused?.(err)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port, init.bind ?? '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const addr = server.address()
  return {
    port: typeof addr === 'object' && addr != null ? addr.port : init.port,
    close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }) }) }
  }
}
