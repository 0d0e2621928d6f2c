import { SOCKS_REPLY } from './protocol.js'
import type { Socket } from 'node:net'

/*
 * Plain TCP for destinations outside the mesh (`passthrough: true`): the
 * reply code for a connect error and the socket-to-socket splice.
 */

/** The reply code for a plain TCP connect error, by errno code. */
export function tcpReply (err: any): number {
  switch (err?.code) {
    case 'ECONNREFUSED': return SOCKS_REPLY.CONNECTION_REFUSED
    case 'ENETUNREACH': return SOCKS_REPLY.NETWORK_UNREACHABLE
    case 'EHOSTUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return SOCKS_REPLY.HOST_UNREACHABLE
    case 'ETIMEDOUT': return SOCKS_REPLY.TTL_EXPIRED
    default: return SOCKS_REPLY.GENERAL_FAILURE
  }
}

/**
 * Join two TCP sockets both ways with backpressure (pipe) and half-close;
 * an error on either side resets both.
 */
export function spliceSockets (a: Socket, b: Socket): void {
  const reset = (): void => {
    if (!a.destroyed) a.resetAndDestroy()
    if (!b.destroyed) b.resetAndDestroy()
  }
  a.on('error', reset)
  b.on('error', reset)
  // a side that closes without having sent its FIN was aborted: reset the other
  a.on('close', () => { if (!a.readableEnded) reset() })
  b.on('close', () => { if (!b.readableEnded) reset() })
  a.pipe(b)
  b.pipe(a)
  a.resume()
}
