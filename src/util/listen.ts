import type { Socket as UdpSocket } from 'node:dgram'
import type { ListenOptions, Server } from 'node:net'

/**
 * Start listening and wait until the server is bound. Rejects with the
 * listen error (EADDRINUSE, EACCES, ...) instead of leaving it to the
 * server's `error` event, and leaves no listener behind either way.
 * `options` is node:net's: `{ port, host }`, `{ path }` for a Unix socket,
 * `backlog`.
 */
export async function listenOn (server: Server, options: ListenOptions): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

/** Stop accepting and wait until the server has closed (open connections keep it open until they end). */
export async function closeServer (server: Server): Promise<void> {
  await new Promise<void>(resolve => { server.close(() => { resolve() }) })
}

/** Bind a UDP socket and wait until it is bound; rejects with the bind error, leaving no listener behind. */
export async function bindUdp (socket: UdpSocket, port: number, host: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(port, host, () => {
      socket.off('error', reject)
      resolve()
    })
  })
}

/** Close a UDP socket and wait until it has closed. */
export async function closeUdp (socket: UdpSocket): Promise<void> {
  await new Promise<void>(resolve => { socket.close(() => { resolve() }) })
}
