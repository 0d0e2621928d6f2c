/**
 * The daemon's control API: HTTP/1.1 on a unix socket in the config
 * directory (mode 0600, so only the daemon's own user can connect).
 *
 * - `GET /v1/status`: {@link DaemonStatus} as JSON;
 * - `GET /metrics`: Prometheus text;
 * - `GET /v1/connect?target=T[&path=auto|direct|relay]`: resolve and connect
 *   (no stream), answer `{peerId, path, class, relay}`;
 * - `GET /v1/tunnel?target=T&service=S[&path=auto|direct|relay][&origin=nc|proxy]` with
 *   `Upgrade: peerup-tunnel/1`: the daemon resolves and dials, answers
 *   `101 Switching Protocols`, and the connection becomes a framed byte
 *   stream to the service (`frames.ts`) spliced with `spliceSocketStream`.
 *   A failure is a JSON error `{error: {name, message}}` instead.
 * - `GET /v1/ping?target=T[&count=N][&interval=MS][&path=P][&untilDirect=1]`:
 *   one JSON line per reply `{reply}`, then `{report: {directAfterMs, udp}}`,
 *   or `{error}` (see `pingReport`);
 * - `GET /v1/resolve?name=N`: the resolver chain's answer (`ChainResult`);
 * - `GET /v1/services?target=T[&path=P]`: the services `T` lets us use.
 *
 * Optionally the same `/metrics` on a TCP address (`daemon.metrics_listen`).
 */
import { lstatSync, statSync, unlinkSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { dirname } from 'node:path'
import { logger } from '@libp2p/logger'
import { CONTROL_TUNNEL_UPGRADE } from '../constants.js'
import { ControlSocketError, UsageError } from '../errors.js'
import { spliceSocketStream } from '../tunnels/proxy.js'
import { framedEnd } from './framed-end.js'
import { encodeFrame, FRAME } from './frames.js'
import { answers, listenPrivately } from './private-socket.js'
import { serveMetrics } from '../metrics/metrics-http.js'
import { controlSocketPath, MAX_SOCKET_PATH } from './socket-path.js'
import { buildMetrics, buildStatus } from './status.js'
import { pingReport } from '../daemon/ping-report.js'
import type { TunMode } from '../tun/tun-mode.js'
import type { LoadedConfig } from '../config/load.js'
import type { PathPreference } from '../paths/dialer.js'
import type { PeerupNode } from '../node/node.js'
import type { MetricsHttp } from '../metrics/metrics-http.js'
import type { TunnelOrigin } from '../tunnels/outbound-tunnels.js'
import type { DaemonStatus, GatewayStatus, StatusSources } from './status.js'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

const log = logger('peerup:control')

/** Init of {@link createControlServer}. */
export interface ControlServerInit {
  /** The running node. */
  node: PeerupNode
  /** Its loaded config (role, network, relays; the socket goes in its directory). */
  config: LoadedConfig
  /**
   * The unix socket path.
   *
   * @default `<config dir>/peerup.sock`
   */
  socketPath?: string
  /**
   * Also serve `GET /metrics` on this TCP `host:port`.
   *
   * @default config `daemon.metrics_listen` (off when unset)
   */
  metricsListen?: string
  /** The daemon's gateways, for the status. */
  gateways?: () => GatewayStatus
  /** TUN mode, when the daemon runs it (status and metrics). */
  tun?: () => TunMode | undefined
}

/** A running control server. */
export interface ControlServer {
  readonly socketPath: string
  /** The bound metrics address (`host:port`), when a metrics listener runs. */
  readonly metricsAddress: string | null
  /** Check the directory, replace a stale socket, listen (mode 0600). */
  start (): Promise<void>
  /** Stop listening and remove the socket; open tunnels continue. */
  stop (): Promise<void>
  status (): DaemonStatus
  metrics (): string
}

/** HTTP status of an error, by its `name`. */
function httpStatusOf (name: string): number {
  switch (name) {
    case 'UsageError': case 'InvalidNameError': case 'InvalidPeerIdError': return 400
    case 'NotAuthorizedError': return 403
    case 'NameNotFoundError': case 'ServiceNotFoundError': return 404
    case 'UnreachableError': return 502
    default: return 500
  }
}

function sendJson (res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function sendError (res: ServerResponse, err: any): void {
  const name = typeof err?.name === 'string' ? err.name : 'Error'
  sendJson(res, httpStatusOf(name), { error: { name, message: String(err?.message ?? err) } })
}

/** Answer with the value as JSON, or the error with its name. */
function answer (res: ServerResponse, work: Promise<unknown>): void {
  work.then(v => { sendJson(res, 200, v) }, (err) => { sendError(res, err) })
}

/** The `path` query parameter (default `auto`), or undefined when it is none of auto, direct, relay. */
function pathParam (url: URL): PathPreference | undefined {
  const p = url.searchParams.get('path') ?? 'auto'
  return p === 'auto' || p === 'direct' || p === 'relay' ? p : undefined
}


class Control implements ControlServer {
  readonly socketPath: string
  metricsAddress: string | null = null
  private http?: Server
  private metricsHttp?: MetricsHttp
  private ino?: number
  private readonly sources: StatusSources

  constructor (private readonly init: ControlServerInit) {
    this.socketPath = init.socketPath ?? controlSocketPath(init.config.dir)
    this.sources = {
      node: init.node,
      config: init.config,
      gateways: () => init.gateways?.() ?? { socks: null, dns: null, tun: null, vip: null },
      tun: init.tun,
      controlSocket: this.socketPath,
      metricsListen: () => this.metricsAddress,
      startedAt: Date.now()
    }
  }

  status (): DaemonStatus { return buildStatus(this.sources) }
  metrics (): string { return buildMetrics(this.sources) }

  async start (): Promise<void> {
    const path = this.socketPath
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
      throw new ControlSocketError(`control socket path ${path} is longer than ${MAX_SOCKET_PATH} bytes (a unix socket limit); move the config directory to a shorter path`)
    }
    const dir = dirname(path)
    const st = statSync(dir)
    if ((st.mode & 0o022) !== 0) {
      throw new ControlSocketError(`${dir} is writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); refusing to put the control socket there (run: chmod go-w ${dir})`)
    }
    let existing: ReturnType<typeof lstatSync> | undefined
    try { existing = lstatSync(path) } catch {}
    if (existing != null) {
      if (!existing.isSocket()) throw new ControlSocketError(`${path} exists and is not a socket; remove it to run the daemon`)
      if (await answers(path)) throw new ControlSocketError(`another peerup daemon is running for this config (${path} answers)`)
      log('removing stale control socket %s', path)
      try { unlinkSync(path) } catch {}
    }
    const server = createHttpServer({}, (req, res) => { this.onRequest(req, res) })
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => { this.onUpgrade(req, socket, head) })
    server.on('clientError', (_err, socket) => { socket.destroy() })
    await listenPrivately(server, path)
    this.ino = statSync(path).ino
    this.http = server
    const listen = this.init.metricsListen ?? this.init.config.config.daemon.metrics_listen
    if (listen != null) {
      try {
        this.metricsHttp = await serveMetrics({ listen, render: () => this.metrics() })
      } catch (err: any) {
        await this.stop()
        throw new ControlSocketError(`daemon.metrics_listen ${listen}: ${err.message}`, { cause: err })
      }
      this.metricsAddress = this.metricsHttp.address
    }
    log('control API on %s%s', path, this.metricsAddress != null ? `, metrics on ${this.metricsAddress}` : '')
  }

  async stop (): Promise<void> {
    const closing = [this.http].filter((s): s is Server => s != null).map(async s => {
      await new Promise<void>(resolve => { s.close(() => { resolve() }) })
    })
    closing.push(this.metricsHttp?.close() ?? Promise.resolve())
    // remove the socket only if it is still ours (not a successor's)
    try { if (this.ino != null && statSync(this.socketPath).ino === this.ino) unlinkSync(this.socketPath) } catch {}
    this.http = undefined
    this.metricsHttp = undefined
    // keep-alive status clients must not hold the daemon open
    await Promise.race([Promise.all(closing), new Promise(resolve => setTimeout(resolve, 500))])
  }

  private onRequest (req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://peerup')
    if (req.method === 'GET' && url.pathname === '/v1/status') { sendJson(res, 200, this.status()); return }
    if (req.method === 'GET' && url.pathname === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      res.end(this.metrics())
      return
    }
    if (req.method === 'GET' && url.pathname === '/v1/connect') { this.onConnect(url, res); return }
    if (req.method === 'GET' && url.pathname === '/v1/ping') { this.onPing(url, res); return }
    if (req.method === 'GET' && url.pathname === '/v1/resolve') {
      const name = url.searchParams.get('name') ?? ''
      if (name === '') { sendError(res, new UsageError('the resolve endpoint needs name')); return }
      answer(res, this.init.node.resolve(name))
      return
    }
    if (req.method === 'GET' && url.pathname === '/v1/services') {
      const target = url.searchParams.get('target') ?? ''
      const path = pathParam(url)
      if (target === '' || path == null) { sendError(res, new UsageError('the services endpoint needs target and path=auto|direct|relay')); return }
      answer(res, this.init.node.remoteServices(target, { path }))
      return
    }
    if (url.pathname === '/v1/tunnel') {
      sendJson(res, 426, { error: { name: 'UsageError', message: `the tunnel endpoint needs "Connection: Upgrade" and "Upgrade: ${CONTROL_TUNNEL_UPGRADE}"` } })
      return
    }
    sendJson(res, 404, { error: { name: 'NotFound', message: `no such endpoint: ${req.method ?? ''} ${url.pathname}` } })
  }

  /** A ping series, one JSON line per reply as it comes (for `peerup ping`). */
  private onPing (url: URL, res: ServerResponse): void {
    const q = url.searchParams
    const target = q.get('target') ?? ''
    const path = pathParam(url)
    const count = Number(q.get('count') ?? '3')
    const interval = q.get('interval') != null ? Number(q.get('interval')) : undefined
    if (target === '' || path == null || !Number.isInteger(count) || count < 1 || (interval != null && (!Number.isFinite(interval) || interval < 0))) {
      sendError(res, new UsageError('the ping endpoint needs target, count ≥ 1, interval ≥ 0 (ms) and path=auto|direct|relay'))
      return
    }
    const abort = new AbortController()
    res.once('close', () => { abort.abort(new Error('control client went away')) })
    res.writeHead(200, { 'content-type': 'application/x-ndjson' })
    const line = (body: unknown): void => { if (!res.destroyed) res.write(JSON.stringify(body) + '\n') }
    pingReport(this.init.node, target, {
      path,
      count,
      interval,
      untilDirect: q.get('untilDirect') === '1',
      signal: abort.signal,
      onReply: (reply) => { line({ reply }) }
    }).then(r => {
      line({ report: { directAfterMs: r.directAfterMs, udp: r.udp } })
    }, (err: any) => {
      line({ error: { name: typeof err?.name === 'string' ? err.name : 'Error', message: String(err?.message ?? err) } })
    }).finally(() => { res.end() })
  }

  /** Resolve and connect (for `peerup proxy`, which fails fast before it listens). */
  private onConnect (url: URL, res: ServerResponse): void {
    const target = url.searchParams.get('target') ?? ''
    const path = (url.searchParams.get('path') ?? 'auto') as PathPreference
    if (target === '' || !['auto', 'direct', 'relay'].includes(path)) {
      sendJson(res, 400, { error: { name: 'UsageError', message: 'the connect endpoint needs target and path=auto|direct|relay' } })
      return
    }
    answer(res, this.init.node.connect(target, { path }).then(c => ({ peerId: c.peerId, path: c.path.path, class: c.path.class, relay: c.path.relay ?? null })))
  }

  private onUpgrade (req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => {})
    const fail = (err: any): void => {
      const name = typeof err?.name === 'string' ? err.name : 'Error'
      const body = JSON.stringify({ error: { name, message: String(err?.message ?? err) } })
      const code = httpStatusOf(name)
      if (!socket.destroyed) socket.end(`HTTP/1.1 ${code} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
    }
    const url = new URL(req.url ?? '/', 'http://peerup')
    if (url.pathname !== '/v1/tunnel' || (req.headers.upgrade ?? '').toLowerCase() !== CONTROL_TUNNEL_UPGRADE) {
      fail(new UsageError(`unknown upgrade ${req.headers.upgrade ?? ''} on ${url.pathname}`))
      return
    }
    const target = url.searchParams.get('target') ?? ''
    const service = url.searchParams.get('service') ?? ''
    const path = (url.searchParams.get('path') ?? 'auto') as PathPreference
    const origin: TunnelOrigin = url.searchParams.get('origin') === 'proxy' ? 'proxy' : 'nc'
    if (target === '' || service === '' || !['auto', 'direct', 'relay'].includes(path)) {
      fail(new UsageError('the tunnel endpoint needs target, service and path=auto|direct|relay'))
      return
    }
    // frames that arrive while we dial are buffered by the framed end
    const end = framedEnd(socket, head)
    const abort = new AbortController()
    const onGone = (): void => { abort.abort(new Error('control client went away')) }
    socket.once('close', onGone)
    this.init.node.openTunnel(target, service, { path, signal: abort.signal }).then(opened => {
      socket.off('close', onGone)
      if (end.gone()) {
        opened.stream.abort(new Error('control client went away'))
        return
      }
      const t = this.init.node.outbound.track({ target, service, peerId: opened.peerId, path: opened.path, origin })
      socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\n' +
        `upgrade: ${CONTROL_TUNNEL_UPGRADE}\r\npeerup-peer-id: ${opened.peerId}\r\npeerup-path: ${opened.path.path}\r\npeerup-class: ${opened.path.class}\r\n` +
        (opened.path.relay != null ? `peerup-relay: ${opened.path.relay}\r\n` : '') + '\r\n')
      log('tunnel %s %s (%s) %s', target, service, opened.peerId, opened.path.path)
      spliceSocketStream(end, opened.stream, {
        counters: t.counters,
        connection: opened.connection,
        connections: () => this.init.node.libp2p.getConnections(),
        kicker: this.init.node.libp2p.services.streamKicker
      }).then(stats => {
        if (stats.clean) socket.end()
        else {
          socket.write(encodeFrame(FRAME.RST, Buffer.from(stats.error?.message ?? 'reset')))
          socket.end()
        }
        log('tunnel %s %s ended: %d in, %d out, %s', target, service, stats.bytesFromStream, stats.bytesToStream, stats.clean ? 'clean' : 'reset')
        return stats.clean
      }, () => { socket.destroy(); return false }).then(clean => { t.end(clean) }, () => {})
    }, (err: any) => {
      socket.off('close', onGone)
      log('tunnel %s %s failed: %s', target, service, err?.message)
      fail(err)
    })
  }
}

/** Create the control server of a daemon (call `start()`). */
export function createControlServer (init: ControlServerInit): ControlServer {
  return new Control(init)
}
