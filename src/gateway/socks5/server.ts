import { createHash, timingSafeEqual } from 'node:crypto'
import { connect as tcpConnect, createServer } from 'node:net'
import { logger } from '@libp2p/logger'
import { DNS_SUFFIXES, SOCKS_FAILURE_LINGER, SOCKS_HANDSHAKE_TIMEOUT, SOCKS_LISTEN, SOCKS_MAX_CONNECTIONS } from '../../constants.js'
import { ConfigError } from '../../errors.js'
import { parseHostPort } from '../../services/service-registry.js'
import { closeServer, listenOn } from '../../util/listen.js'
import { meshReply, Refusal, socksMesh } from './mesh.js'
import { spliceSockets, tcpReply } from './passthrough.js'
import { methodReply, parseGreeting, parseRequest, parseUserPass, replyBytes, SOCKS_METHOD, SOCKS_REPLY, userPassReply } from './protocol.js'
import type { SocksMesh, SocksMeshComponents } from './mesh.js'
import type { SocksDestination } from './protocol.js'
import type { Server, Socket } from 'node:net'

export { SOCKS_REPLY } from './protocol.js'

const log = logger('peerup:gateway:socks')

/** Components of the SOCKS5 gateway: the mesh side (`node`, `vips`) and plain TCP. */
export interface SocksGatewayComponents extends SocksMeshComponents {
  /** Plain TCP connect for passthrough destinations. @default node:net `connect` */
  connect?: (options: { host: string, port: number, allowHalfOpen: true }) => Socket
}

/** Init of {@link createSocksGateway}. */
export interface SocksGatewayInit {
  /**
   * Listen address, `host:port`.
   *
   * @default '127.0.0.1:1080'
   */
  listen?: string
  /**
   * Connect to destinations outside the mesh with plain TCP instead of
   * replying "host unreachable".
   *
   * @default false
   */
  passthrough?: boolean
  /** RFC 1929 user name; with `password`, clients must authenticate. Required off loopback. */
  username?: string
  /** RFC 1929 password. */
  password?: string
  /**
   * Connections open at once (handshaking and tunnelled). At the cap, a new
   * connection evicts the oldest one still in its handshake, else it is
   * closed.
   *
   * @default 1024
   */
  maxConnections?: number
  /**
   * Time from accept until the reply is sent, including opening the tunnel (ms).
   *
   * @default 10000
   */
  handshakeTimeout?: number
  /**
   * DNS zones stripped from destination names, so `laptop.grewal.p2p`
   * means `laptop.grewal`.
   *
   * @default ['p2p']
   */
  suffixes?: string[]
}

/** A running SOCKS5 gateway. */
export interface SocksGateway {
  /** Bound address; valid after `start()`. */
  readonly address: { host: string, port: number }
  start: () => Promise<void>
  /** Stop listening and close every connection. */
  stop: () => Promise<void>
  /** Connections open now, by phase. */
  connections: () => { handshaking: number, established: number }
}

type Phase = 'greeting' | 'auth' | 'request' | 'connecting' | 'established' | 'closing'

interface Conn {
  socket: Socket
  phase: Phase
  /** When the handshake must be over (performance.now() ms). */
  deadline: number
  buf: Buffer
  timer?: NodeJS.Timeout
  abort: AbortController
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

class Gateway implements SocksGateway {
  address: { host: string, port: number }
  private server?: Server
  private readonly conns = new Set<Conn>()
  private readonly timeout: number
  private readonly max: number
  private readonly mesh: SocksMesh
  private readonly credentials?: { user: Buffer, pass: Buffer }

  constructor (private readonly init: SocksGatewayInit, private readonly components: SocksGatewayComponents) {
    this.address = parseHostPort(init.listen ?? SOCKS_LISTEN)
    this.timeout = init.handshakeTimeout ?? SOCKS_HANDSHAKE_TIMEOUT
    this.max = init.maxConnections ?? SOCKS_MAX_CONNECTIONS
    this.mesh = socksMesh(components, init.suffixes ?? DNS_SUFFIXES)
    if ((init.username == null) !== (init.password == null)) {
      throw new ConfigError('SOCKS gateway: set both username and password, or neither', { keyPath: 'gateway.socks' })
    }
    if (init.username != null && init.password != null) {
      this.credentials = { user: digest(init.username), pass: digest(init.password) }
    }
  }

  async start (): Promise<void> {
    const { host, port } = this.address
    if (!isLoopback(host) && this.credentials == null) {
      throw new ConfigError(`SOCKS gateway: listening on ${host} needs a username and password (anyone who can connect would reach your mesh)`, { keyPath: 'gateway.socks.listen' })
    }
    const server = createServer({ allowHalfOpen: true }, (s) => { this.accept(s) })
    await listenOn(server, { port, host }).catch((err: Error) => { throw new Error(`SOCKS gateway: cannot listen on ${host}:${port}: ${err.message}`, { cause: err }) })
    server.on('error', (err) => { log.error('server error: %s', err.message) })
    this.server = server
    const addr = server.address()
    if (addr != null && typeof addr === 'object') this.address = { host, port: addr.port }
    log('listening on %s:%d%s', host, this.address.port, this.init.passthrough === true ? ' (passthrough on)' : '')
  }

  async stop (): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const c of this.conns) {
      c.abort.abort()
      c.socket.destroy()
    }
    if (server != null) await closeServer(server)
  }

  connections (): { handshaking: number, established: number } {
    let established = 0
    for (const c of this.conns) if (c.phase === 'established') established++
    return { handshaking: this.conns.size - established, established }
  }

  private accept (socket: Socket): void {
    socket.on('error', (err) => { log('client error: %s', err.message) })
    socket.setNoDelay(true)
    if (this.conns.size >= this.max) {
      // slowloris: make room by dropping the oldest connection that is still waiting for its client
      let victim: Conn | undefined
      for (const c of this.conns) {
        if (c.phase === 'greeting' || c.phase === 'auth' || c.phase === 'request') { victim = c; break }
      }
      if (victim == null) {
        log('connection limit (%d) reached; closing a new connection', this.max)
        socket.destroy()
        return
      }
      log('connection limit (%d) reached; evicting the oldest handshake', this.max)
      this.close(victim)
    }
    const conn: Conn = { socket, phase: 'greeting', deadline: performance.now() + this.timeout, buf: Buffer.alloc(0), abort: new AbortController() }
    this.conns.add(conn)
    conn.timer = setTimeout(() => { this.onTimeout(conn) }, this.timeout)
    const onData = (chunk: Buffer): void => {
      if (conn.phase === 'closing') return
      conn.buf = conn.buf.length === 0 ? chunk : Buffer.concat([conn.buf, chunk])
      try {
        this.advance(conn)
      } catch (err: any) {
        log.error('handshake failed: %s', err.message)
        this.close(conn)
      }
      if (conn.phase === 'connecting' || conn.phase === 'established') socket.off('data', onData)
    }
    socket.on('data', onData)
    socket.on('end', () => {
      // EOF before the handshake finished: nothing to do for this client
      if (conn.phase === 'greeting' || conn.phase === 'auth' || conn.phase === 'request') this.close(conn)
    })
    socket.on('close', () => {
      if (conn.phase !== 'established') conn.phase = 'closing'
      clearTimeout(conn.timer)
      conn.abort.abort()
      this.conns.delete(conn)
    })
  }

  private onTimeout (conn: Conn): void {
    if (conn.phase === 'established' || conn.phase === 'closing') return
    if (conn.phase === 'connecting') {
      log('opening the tunnel took longer than %d ms', this.timeout)
      conn.abort.abort()
      this.fail(conn, SOCKS_REPLY.TTL_EXPIRED)
      return
    }
    log('handshake timed out after %d ms in phase %s', this.timeout, conn.phase)
    this.close(conn)
  }

  /** Close at once (no reply is due). */
  private close (conn: Conn): void {
    conn.phase = 'closing'
    clearTimeout(conn.timer)
    conn.abort.abort()
    conn.socket.destroy()
  }

  /**
   * Send a final message (a failure reply) and FIN, then close: the client
   * gets a short while to read it and close its side, but never past the
   * handshake deadline.
   */
  private finish (conn: Conn, bytes: Buffer): void {
    conn.phase = 'closing'
    clearTimeout(conn.timer)
    conn.abort.abort()
    const s = conn.socket
    if (s.destroyed) return
    // discard whatever the client still sends, so its FIN is seen
    s.resume()
    const linger = Math.min(SOCKS_FAILURE_LINGER, Math.max(0, conn.deadline - performance.now()))
    s.end(bytes, () => {
      if (linger === 0) s.destroy()
      else setTimeout(() => { s.destroy() }, linger).unref()
    })
  }

  private fail (conn: Conn, code: number): void {
    this.finish(conn, replyBytes(code))
  }

  /** Consume as many complete handshake messages as the buffer holds. */
  private advance (conn: Conn): void {
    for (;;) {
      if (conn.phase === 'greeting') {
        const m = parseGreeting(conn.buf)
        if (m.kind === 'incomplete') return
        if (m.kind !== 'ok') { this.close(conn); return }
        conn.buf = m.rest
        const want = this.credentials != null ? SOCKS_METHOD.USER_PASS : SOCKS_METHOD.NO_AUTH
        if (!m.value.methods.includes(want)) {
          this.finish(conn, methodReply(SOCKS_METHOD.NONE_ACCEPTABLE))
          return
        }
        conn.socket.write(methodReply(want))
        conn.phase = want === SOCKS_METHOD.USER_PASS ? 'auth' : 'request'
        continue
      }
      if (conn.phase === 'auth') {
        const m = parseUserPass(conn.buf)
        if (m.kind === 'incomplete') return
        if (m.kind !== 'ok') { this.close(conn); return }
        const { user, pass } = m.value
        conn.buf = m.rest
        const ok = this.credentials != null &&
          // compare digests in constant time (both checks always run)
          [timingSafeEqual(digest(user.toString('utf8')), this.credentials.user), timingSafeEqual(digest(pass.toString('utf8')), this.credentials.pass)].every(Boolean)
        if (!ok || user.length === 0) {
          log('authentication failed')
          this.finish(conn, userPassReply(false))
          return
        }
        conn.socket.write(userPassReply(true))
        conn.phase = 'request'
        continue
      }
      if (conn.phase === 'request') {
        const m = parseRequest(conn.buf)
        if (m.kind === 'incomplete') return
        if (m.kind === 'invalid') { this.close(conn); return }
        if (m.kind === 'refuse') { this.fail(conn, m.code); return }
        // bytes after the request are the client's first payload (optimistic data)
        const early = m.rest
        conn.buf = Buffer.alloc(0)
        conn.phase = 'connecting'
        conn.socket.pause()
        this.connect(conn, m.value, early).catch((err: Error) => {
          log.error('connect failed: %s', err.message)
          if (conn.phase === 'connecting') this.fail(conn, SOCKS_REPLY.GENERAL_FAILURE)
        })
        return
      }
      return
    }
  }

  private async connect (conn: Conn, dest: SocksDestination, early: Buffer): Promise<void> {
    const signal = conn.abort.signal
    let mesh
    try {
      mesh = await this.mesh.target(dest, signal)
    } catch (err: any) {
      this.refused(conn, dest, err)
      return
    }
    if (conn.phase !== 'connecting') return
    if (mesh == null) {
      if (this.init.passthrough !== true) {
        log('%s:%d is outside the mesh (passthrough off)', dest.host, dest.port)
        this.fail(conn, SOCKS_REPLY.HOST_UNREACHABLE)
        return
      }
      this.passthrough(conn, dest, early)
      return
    }

    let tunnel
    try {
      tunnel = await this.mesh.open(mesh, dest, signal)
    } catch (err: any) {
      this.refused(conn, dest, err)
      return
    }
    if (conn.phase !== 'connecting' || conn.socket.destroyed) {
      tunnel.cancel(new Error('SOCKS client went away'))
      return
    }
    const vip = tunnel.boundIp()
    this.established(conn)
    conn.socket.write(replyBytes(SOCKS_REPLY.SUCCEEDED, { host: vip, port: dest.port }))
    if (early.length > 0) conn.socket.unshift(early)
    log('%s:%d -> %s (%s) %s', dest.host, dest.port, mesh.target, tunnel.peerId, tunnel.route)
    const stats = await tunnel.splice(conn.socket)
    log('tunnel to %s:%d ended: %d up, %d down, %s', dest.host, dest.port, stats.bytesToStream, stats.bytesFromStream, stats.clean ? 'clean' : 'reset')
  }

  /** The mesh refused `dest`: reply with its code, unless the client is gone. */
  private refused (conn: Conn, dest: SocksDestination, err: any): void {
    if (conn.phase !== 'connecting') return
    const code = err instanceof Refusal ? err.code : meshReply(err)
    log('%s:%d refused (0x%s): %s', dest.host, dest.port, code.toString(16).padStart(2, '0'), err.message)
    this.fail(conn, code)
  }

  private established (conn: Conn): void {
    conn.phase = 'established'
    clearTimeout(conn.timer)
  }

  private passthrough (conn: Conn, dest: SocksDestination, early: Buffer): void {
    const connect = this.components.connect ?? tcpConnect
    const out = connect({ host: dest.host, port: dest.port, allowHalfOpen: true })
    const onAbort = (): void => { out.destroy() }
    conn.abort.signal.addEventListener('abort', onAbort, { once: true })
    out.once('error', (err) => {
      conn.abort.signal.removeEventListener('abort', onAbort)
      if (conn.phase === 'connecting') {
        log('passthrough to %s:%d failed: %s', dest.host, dest.port, err.message)
        this.fail(conn, tcpReply(err))
      }
    })
    out.once('connect', () => {
      conn.abort.signal.removeEventListener('abort', onAbort)
      if (conn.phase !== 'connecting' || conn.socket.destroyed) { out.destroy(); return }
      this.established(conn)
      out.setNoDelay(true)
      conn.socket.write(replyBytes(SOCKS_REPLY.SUCCEEDED, { host: out.localAddress ?? '0.0.0.0', port: out.localPort ?? 0 }))
      if (early.length > 0) conn.socket.unshift(early)
      spliceSockets(conn.socket, out)
    })
  }
}

/**
 * Create the SOCKS5 gateway (RFC 1928 CONNECT, RFC 1929 user/password).
 * Destinations `laptop.grewal:22`, `laptop.grewal.p2p:80` and virtual IPs
 * `10.64.x.y:port` go through the mesh: the name (or the table) picks the
 * peer and the port picks the remote service via its catalogue. Anything
 * else is refused with "host unreachable" unless `passthrough` is on.
 * Call `start()` next.
 */
export function createSocksGateway (init: SocksGatewayInit, components: SocksGatewayComponents): SocksGateway {
  return new Gateway(init, components)
}
