/** `PeerupNode.proxy`: a local TCP listener whose every connection is tunnelled to a remote service. */
import { createServer } from 'node:net'
import { logger } from '@libp2p/logger'
import { TunnelResetError } from '../errors.js'
import type { NodeTunnels } from './tunnels.js'
import type { TcpProxy, TunnelOptions } from './peerup-node.js'
import type { TunnelStats } from '../tunnels/proxy.js'
import type { Server } from 'node:net'

const log = logger('peerup:node')

/** Options of {@link listenTcpProxy}. */
export type TcpProxyOptions = TunnelOptions & {
  /**
   * Local address to listen on.
   *
   * @default '127.0.0.1'
   */
  bind?: string
  /** Hears of each tunnel that could not be opened, or that the remote reset before sending any data. */
  onError?: (err: Error) => void
}

/** Listen on `port` and forward every connection to `service` on `target`. */
export async function listenTcpProxy (tunnels: NodeTunnels, target: string, service: string, port: number, options: TcpProxyOptions = {}): Promise<TcpProxy> {
  const completed: TunnelStats[] = []
  const { onError, bind, ...tunnelOptions } = options
  const failed = (err: Error): void => {
    log.error('tunnel to %s/%s failed: %s', target, service, err.message)
    onError?.(err)
  }
  const server: Server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => {})
    tunnels.tunnelSocket(socket, target, service, { ...tunnelOptions, origin: 'proxy' }).then(async s => {
      completed.push(s)
      if (s.clean || s.bytesFromStream > 0) return
      failed(await tunnels.explainReset(target, service, tunnelOptions) ??
        new TunnelResetError(`${target} reset the ${service} tunnel before sending any data (${s.error?.message ?? 'reset'}): not authorized for this service, or the service is down`))
    }, failed)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, bind ?? '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
  const addr = server.address()
  return {
    port: typeof addr === 'object' && addr != null ? addr.port : port,
    completed,
    close: async () => { await new Promise<void>(resolve => server.close(() => { resolve() })) }
  }
}
