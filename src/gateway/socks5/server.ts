import { createHash, timingSafeEqual } from 'node:crypto'
import { connect as tcpConnect, createServer, isIP, isIPv4 } from 'node:net'
import { logger } from '@libp2p/logger'
import { DNS_SUFFIXES, SOCKS_FAILURE_LINGER, SOCKS_HANDSHAKE_TIMEOUT, SOCKS_LISTEN, SOCKS_MAX_CONNECTIONS } from '../../constants.js'
import { ConfigError } from '../../errors.js'
import { holdStream, spliceSocketStream } from '../../tunnels/proxy.js'
import { parseHostPort } from '../../services/service-registry.js'
import type { PeerupNode } from '../../node/node.js'
import type { VirtualIpTable } from '../virtual-ip.js'
import type { Server, Socket } from 'node:net'

const log = logger('peerup:gateway:socks')

/** SOCKS5 reply codes (RFC 1928 §6). */
export const SOCKS_REPLY = {
  SUCCEEDED: 0x00,
  GENERAL_FAILURE: 0x01,
  NOT_ALLOWED: 0x02,
  NETWORK_UNREACHABLE: 0x03,
  HOST_UNREACHABLE: 0x04,
  CONNECTION_REFUSED: 0x05,
  TTL_EXPIRED: 0x06,
  COMMAND_NOT_SUPPORTED: 0x07,
  ADDRESS_TYPE_NOT_SUPPORTED: 0x08
} as const

/** Components of the SOCKS5 gateway. */
export interface SocksGatewayComponents {
  /** The mesh side: name resolution and tunnels (a `PeerupNode`); with `outbound`, tunnels are counted there (status, metrics). */
  node: Pick<PeerupNode, 'resolve' | 'openTunnel'> & Partial<Pick<PeerupNode, 'outbound'>>
  /** The virtual-IP table shared with the DNS gateway. */
  vips: VirtualIpTable
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

/** A destination, as the client asked for it. */
type Destination =
  | { kind: 'ip', host: string, port: number }
  | { kind: 'domain', host: string, port: number }

/** Why a destination could not be reached: the reply code and a log line. */
class Refusal extends Error {
  constructor (readonly code: number, message: string) { super(message) }
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/** The reply code for a mesh error, by error name. */
function meshReply (err: any): number {
  switch (err?.name) {
    case 'NotAuthorizedError': return SOCKS_REPLY.NOT_ALLOWED
    case 'ServiceNotFoundError': return SOCKS_REPLY.CONNECTION_REFUSED
    case 'UnreachableError':
    case 'NameNotFoundError':
    case 'InvalidNameError':
    case 'InvalidPeerIdError': return SOCKS_REPLY.HOST_UNREACHABLE
    case 'AbortError':
    case 'TimeoutError': return SOCKS_REPLY.TTL_EXPIRED
    default: return SOCKS_REPLY.GENERAL_FAILURE
  }
}

/** The reply code for a plain TCP connect error, by errno code. */
function tcpReply (err: any): number {
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

/** A reply: VER REP RSV ATYP BND.ADDR BND.PORT. */
function replyBytes (code: number, bound?: { host: string, port: number }): Buffer {
  let host = bound?.host ?? '0.0.0.0'
  if (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(host)) host = host.slice(7)
  const port = bound?.port ?? 0
  if (isIPv4(host)) {
    return Buffer.from([0x05, code, 0x00, 0x01, ...host.split('.').map(Number), port >> 8, port & 0xff])
  }
  if (isIP(host) === 6) {
    const b = Buffer.alloc(22)
    b.set([0x05, code, 0x00, 0x04])
    // expand "::" and write the 8 groups
    const [head, tail = ''] = host.split('::')
    const hs = head === '' ? [] : head.split(':')
    const ts = tail === '' ? [] : tail.split(':')
    const groups = host.includes('::') ? [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts] : hs
    if (groups.length === 8 && groups.every(g => /^[0-9a-f]{1,4}$/i.test(g))) {
      groups.forEach((g, i) => { b.writeUInt16BE(parseInt(g, 16), 4 + i * 2) })
    }
    b.writeUInt16BE(port, 20)
    return b
  }
  return Buffer.from([0x05, code, 0x00, 0x01, 0, 0, 0, 0, port >> 8, port & 0xff])
}

function ipv6Text (b: Buffer): string {
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16))
  return groups.join(':')
}

class Gateway implements SocksGateway {
  address: { host: string, port: number }
  private server?: Server
  private readonly conns = new Set<Conn>()
  private readonly timeout: number
  private readonly max: number
  private readonly suffixes: string[]
  private readonly credentials?: { user: Buffer, pass: Buffer }

  constructor (private readonly init: SocksGatewayInit, private readonly components: SocksGatewayComponents) {
    this.address = parseHostPort(init.listen ?? SOCKS_LISTEN)
    this.timeout = init.handshakeTimeout ?? SOCKS_HANDSHAKE_TIMEOUT
    this.max = init.maxConnections ?? SOCKS_MAX_CONNECTIONS
    this.suffixes = (init.suffixes ?? DNS_SUFFIXES).map(s => s.toLowerCase().replace(/^\.+|\.+$/g, '')).filter(s => s !== '')
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
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => { server.off('error', reject); resolve() })
    }).catch((err: Error) => { throw new Error(`SOCKS gateway: cannot listen on ${host}:${port}: ${err.message}`, { cause: err }) })
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
    if (server != null) await new Promise<void>(resolve => { server.close(() => { resolve() }) })
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
      const b = conn.buf
      if (conn.phase === 'greeting') {
        if (b.length < 1) return
        if (b[0] !== 0x05) { this.close(conn); return }
        if (b.length < 2) return
        const n = b[1]
        if (b.length < 2 + n) return
        const methods = b.subarray(2, 2 + n)
        conn.buf = b.subarray(2 + n)
        const want = this.credentials != null ? 0x02 : 0x00
        if (!methods.includes(want)) {
          this.finish(conn, Buffer.from([0x05, 0xff]))
          return
        }
        conn.socket.write(Buffer.from([0x05, want]))
        conn.phase = want === 0x02 ? 'auth' : 'request'
        continue
      }
      if (conn.phase === 'auth') {
        // RFC 1929: VER(1) ULEN UNAME PLEN PASSWD
        if (b.length < 1) return
        if (b[0] !== 0x01) { this.close(conn); return }
        if (b.length < 2) return
        const ulen = b[1]
        if (b.length < 3 + ulen) return
        const plen = b[2 + ulen]
        if (b.length < 3 + ulen + plen) return
        const user = b.subarray(2, 2 + ulen)
        const pass = b.subarray(3 + ulen, 3 + ulen + plen)
        conn.buf = b.subarray(3 + ulen + plen)
        const ok = this.credentials != null &&
          // compare digests in constant time (both checks always run)
          [timingSafeEqual(digest(user.toString('utf8')), this.credentials.user), timingSafeEqual(digest(pass.toString('utf8')), this.credentials.pass)].every(Boolean)
        if (!ok || ulen === 0) {
          log('authentication failed')
          this.finish(conn, Buffer.from([0x01, 0x01]))
          return
        }
        conn.socket.write(Buffer.from([0x01, 0x00]))
        conn.phase = 'request'
        continue
      }
      if (conn.phase === 'request') {
        if (b.length < 4) {
          if (b.length >= 1 && b[0] !== 0x05) this.close(conn)
          return
        }
        if (b[0] !== 0x05) { this.close(conn); return }
        const cmd = b[1]
        const atyp = b[3]
        let addrLen: number
        if (atyp === 0x01) addrLen = 4
        else if (atyp === 0x04) addrLen = 16
        else if (atyp === 0x03) {
          if (b.length < 5) return
          addrLen = 1 + b[4]
        } else {
          this.fail(conn, SOCKS_REPLY.ADDRESS_TYPE_NOT_SUPPORTED)
          return
        }
        const total = 4 + addrLen + 2
        if (b.length < total) return
        const addr = b.subarray(4, 4 + addrLen)
        const port = b.readUInt16BE(4 + addrLen)
        // bytes after the request are the client's first payload (optimistic data)
        const early = b.subarray(total)
        conn.buf = Buffer.alloc(0)
        if (cmd !== 0x01) {
          this.fail(conn, SOCKS_REPLY.COMMAND_NOT_SUPPORTED)
          return
        }
        let dest: Destination
        if (atyp === 0x01) dest = { kind: 'ip', host: [...addr].join('.'), port }
        else if (atyp === 0x04) dest = { kind: 'ip', host: ipv6Text(addr), port }
        else {
          const name = addr.subarray(1).toString('latin1')
          dest = isIP(name) !== 0 ? { kind: 'ip', host: name, port } : { kind: 'domain', host: name, port }
        }
        conn.phase = 'connecting'
        conn.socket.pause()
        this.connect(conn, dest, early).catch((err: Error) => {
          log.error('connect failed: %s', err.message)
          if (conn.phase === 'connecting') this.fail(conn, SOCKS_REPLY.GENERAL_FAILURE)
        })
        return
      }
      return
    }
  }

  /** Map a destination to a mesh target (peer name or ID), or undefined when it is outside the mesh. */
  private async meshTarget (dest: Destination, signal: AbortSignal): Promise<{ target: string, peerId: string } | undefined> {
    const { node, vips } = this.components
    if (dest.kind === 'ip') {
      if (!isIPv4(dest.host) || !vips.contains(dest.host)) return undefined
      const entry = vips.byIp(dest.host)
      if (entry == null) throw new Refusal(SOCKS_REPLY.HOST_UNREACHABLE, `no peer has virtual IP ${dest.host}`)
      // dial by name when the name still means that peer (its names-file addresses help); else by peer ID
      const name = entry.names[0]
      if (name != null) {
        try {
          if ((await node.resolve(name, { signal })).peerId === entry.peerId) return { target: name, peerId: entry.peerId }
        } catch {}
      }
      return { target: entry.peerId, peerId: entry.peerId }
    }
    let name = dest.host.toLowerCase().replace(/\.$/, '')
    let zoned = false
    for (const s of this.suffixes) {
      if (name.endsWith(`.${s}`)) {
        name = name.slice(0, -(s.length + 1))
        zoned = true
        break
      }
    }
    try {
      const r = await node.resolve(name, { signal })
      return { target: name, peerId: r.peerId }
    } catch (err: any) {
      if (signal.aborted) throw err
      // a name in our zones is never looked up outside the mesh
      if (zoned) throw new Refusal(meshReply(err), `${dest.host}: ${err.message}`)
      if (err?.name === 'NameNotFoundError' || err?.name === 'InvalidNameError') return undefined
      throw new Refusal(meshReply(err), `${dest.host}: ${err.message}`)
    }
  }

  private async connect (conn: Conn, dest: Destination, early: Buffer): Promise<void> {
    const signal = conn.abort.signal
    let mesh: { target: string, peerId: string } | undefined
    try {
      mesh = await this.meshTarget(dest, signal)
    } catch (err: any) {
      if (conn.phase !== 'connecting') return
      const code = err instanceof Refusal ? err.code : meshReply(err)
      log('%s:%d refused (0x%s): %s', dest.host, dest.port, code.toString(16).padStart(2, '0'), err.message)
      this.fail(conn, code)
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

    let opened
    try {
      opened = await this.components.node.openTunnel(mesh.target, String(dest.port), { signal })
    } catch (err: any) {
      if (conn.phase !== 'connecting') return
      const code = meshReply(err)
      log('%s:%d via %s refused (0x%s): %s', dest.host, dest.port, mesh.target, code.toString(16).padStart(2, '0'), err.message)
      this.fail(conn, code)
      return
    }
    // capture the stream's early FIN/data before anything else can run: a FIN that arrives before the listeners is lost
    const held = holdStream(opened.stream)
    if (conn.phase !== 'connecting' || conn.socket.destroyed) {
      held.release()
      opened.stream.abort(new Error('SOCKS client went away'))
      return
    }
    let vip = '0.0.0.0'
    try {
      vip = this.components.vips.byPeer(opened.peerId)?.ip ?? this.components.vips.assign(opened.peerId)
    } catch {}
    this.established(conn)
    conn.socket.write(replyBytes(SOCKS_REPLY.SUCCEEDED, { host: vip, port: dest.port }))
    if (early.length > 0) conn.socket.unshift(early)
    log('%s:%d -> %s (%s) %s', dest.host, dest.port, mesh.target, opened.peerId, opened.path.path === 'relayed' ? `relayed via ${opened.path.relay ?? 'relay'}` : 'direct')
    const tracked = this.components.node.outbound?.track({ target: mesh.target, service: String(dest.port), peerId: opened.peerId, path: opened.path, origin: 'socks' })
    const stats = await spliceSocketStream(conn.socket, held, { counters: tracked?.counters })
    tracked?.end(stats.clean)
    log('tunnel to %s:%d ended: %d up, %d down, %s', dest.host, dest.port, stats.bytesToStream, stats.bytesFromStream, stats.clean ? 'clean' : 'reset')
  }

  private established (conn: Conn): void {
    conn.phase = 'established'
    clearTimeout(conn.timer)
  }

  private passthrough (conn: Conn, dest: Destination, early: Buffer): void {
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
 * Join two TCP sockets both ways with backpressure (pipe) and half-close;
 * an error on either side resets both.
 */
function spliceSockets (a: Socket, b: Socket): void {
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
