/**
 * The client side of the control API: `peerup status` and daemon-backed
 * `peerup nc`. Imports nothing from libp2p, so a CLI command that only talks
 * to the daemon starts in a fraction of the time an in-process node needs.
 */
import { request } from 'node:http'
import { CONTROL_REQUEST_TIMEOUT, CONTROL_TUNNEL_UPGRADE } from '../constants.js'
import { DaemonNotRunningError, PeerupError } from '../errors.js'
import { encodeFrame, FRAME, frameDecoder, frameHeader } from './frames.js'
import type { DaemonStatus } from './status.js'
import type { PingReport, PingReportReply } from '../daemon/ping-report.js'
import type { ChainResult } from '../naming/resolver.js'
import type { CatalogueEntry } from '../services/service-catalogue.js'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Readable, Writable } from 'node:stream'

/** Init of {@link createControlClient}. */
export interface ControlClientInit {
  /** The daemon's control socket (see `controlSocketPath`). */
  socketPath: string
  /**
   * Time limit for a request, or for opening a tunnel (ms).
   *
   * @default 30000
   */
  timeoutMs?: number
}

/** A tunnel opened by the daemon: a framed stream on the control socket. */
export interface ControlTunnel {
  socket: Socket
  /** Bytes read past the response head (the first frames). */
  head: Buffer
  peerId: string
  path: 'direct' | 'relayed'
  /** `direct-tcp`, `direct-udp` or `relayed` (from a daemon that says; else from `path`). */
  class: 'direct-tcp' | 'direct-udp' | 'relayed'
  relay?: string
}

/** Outcome of {@link tunnelStdio}, as `TunnelStats` of an in-process tunnel. */
export interface ControlTunnelStats {
  bytesFromStream: number
  bytesToStream: number
  clean: boolean
  error?: Error
}

/** A client of a daemon's control API. */
export interface ControlClient {
  readonly socketPath: string
  /** `GET /v1/status`. Throws `DaemonNotRunningError` when no daemon answers. */
  status (options?: { signal?: AbortSignal }): Promise<DaemonStatus>
  /** `GET /metrics` (Prometheus text). */
  metrics (options?: { signal?: AbortSignal }): Promise<string>
  /**
   * Ask the daemon for a tunnel to `service` on `target`. Errors keep the
   * daemon's error name (`NameNotFoundError`, `NotAuthorizedError`, ...).
   */
  openTunnel (target: string, service: string, options?: ControlTunnelOptions): Promise<ControlTunnel>
  /** `GET /v1/connect`: have the daemon resolve and connect to `target` (no stream). */
  connect (target: string, options?: { path?: 'auto' | 'direct' | 'relay', signal?: AbortSignal }): Promise<ControlConnectResult>
  /**
   * `GET /v1/ping`: the daemon pings `target`; `onReply` hears each reply as
   * it comes. Resolves with the same report as an in-process `pingReport`.
   * Not bounded by `timeoutMs` (a long series is fine): pass a signal.
   */
  ping (target: string, options?: ControlPingOptions): Promise<PingReport>
  /** `GET /v1/resolve`: the daemon's resolver chain. */
  resolve (name: string, options?: { signal?: AbortSignal }): Promise<ChainResult>
  /** `GET /v1/services`: the services `target` lets this node use. */
  remoteServices (target: string, options?: { path?: 'auto' | 'direct' | 'relay', signal?: AbortSignal }): Promise<CatalogueEntry[]>
}

/** Options of {@link ControlClient.ping}. */
export interface ControlPingOptions {
  /** @default 3 */
  count?: number
  /** Pause between pings (ms). @default 200 */
  interval?: number
  /** @default 'auto' */
  path?: 'auto' | 'direct' | 'relay'
  /** Stop at the first direct reply. @default false */
  untilDirect?: boolean
  onReply?: (reply: PingReportReply) => void
  signal?: AbortSignal
}

/** Options of {@link ControlClient.openTunnel}. */
export interface ControlTunnelOptions {
  /** @default 'auto' */
  path?: 'auto' | 'direct' | 'relay'
  signal?: AbortSignal
  /**
   * What opens the tunnel, as the daemon's status lists it.
   *
   * @default 'nc'
   */
  origin?: 'nc' | 'proxy'
}

/** Answer of {@link ControlClient.connect}. */
export interface ControlConnectResult {
  peerId: string
  path: 'direct' | 'relayed'
  class: 'direct-tcp' | 'direct-udp' | 'relayed'
  relay: string | null
}

/** An error reported by the daemon, carrying the daemon's error `name`. */
export class DaemonError extends PeerupError {
  constructor (name: string, message: string) {
    super(message)
    this.name = name
  }
}

const notRunning = (socketPath: string, err: any): Error => {
  if (err?.code === 'ENOENT' || err?.code === 'ECONNREFUSED' || err?.code === 'ENOTSOCK') {
    return new DaemonNotRunningError(`no peerup daemon is running for this config (${socketPath}: ${err.code === 'ENOENT' ? 'no such socket' : 'nobody listening'}); start one with "peerup daemon"`)
  }
  if (err?.code === 'EACCES') return new DaemonNotRunningError(`${socketPath}: permission denied (the control socket belongs to the daemon's user)`)
  return err
}

async function readBody (res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of res) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function errorFrom (code: number | undefined, body: string): Error {
  try {
    const e = JSON.parse(body).error
    if (typeof e?.name === 'string' && typeof e?.message === 'string') return new DaemonError(e.name, e.message)
  } catch {}
  return new PeerupError(`daemon answered HTTP ${code ?? '?'}: ${body.slice(0, 200)}`)
}

class Client implements ControlClient {
  readonly socketPath: string
  private readonly timeoutMs: number

  constructor (init: ControlClientInit) {
    this.socketPath = init.socketPath
    this.timeoutMs = init.timeoutMs ?? CONTROL_REQUEST_TIMEOUT
  }

  private signal (signal?: AbortSignal): AbortSignal {
    const t = AbortSignal.timeout(this.timeoutMs)
    return signal != null ? AbortSignal.any([t, signal]) : t
  }

  private async get (path: string, signal?: AbortSignal): Promise<string> {
    return await new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method: 'GET', signal: this.signal(signal), headers: { connection: 'close' } }, (res) => {
        readBody(res).then(body => {
          if (res.statusCode === 200) resolve(body)
          else reject(errorFrom(res.statusCode, body))
        }, reject)
      })
      req.on('error', (err) => { reject(notRunning(this.socketPath, err)) })
      req.end()
    })
  }

  async status (options: { signal?: AbortSignal } = {}): Promise<DaemonStatus> {
    return JSON.parse(await this.get('/v1/status', options.signal))
  }

  async metrics (options: { signal?: AbortSignal } = {}): Promise<string> {
    return await this.get('/metrics', options.signal)
  }

  async connect (target: string, options: { path?: 'auto' | 'direct' | 'relay', signal?: AbortSignal } = {}): Promise<ControlConnectResult> {
    const q = new URLSearchParams({ target, path: options.path ?? 'auto' })
    return JSON.parse(await this.get(`/v1/connect?${q.toString()}`, options.signal))
  }

  async resolve (name: string, options: { signal?: AbortSignal } = {}): Promise<ChainResult> {
    return JSON.parse(await this.get(`/v1/resolve?${new URLSearchParams({ name }).toString()}`, options.signal))
  }

  async remoteServices (target: string, options: { path?: 'auto' | 'direct' | 'relay', signal?: AbortSignal } = {}): Promise<CatalogueEntry[]> {
    const q = new URLSearchParams({ target, path: options.path ?? 'auto' })
    return JSON.parse(await this.get(`/v1/services?${q.toString()}`, options.signal))
  }

  async ping (target: string, options: ControlPingOptions = {}): Promise<PingReport> {
    const q = new URLSearchParams({ target, path: options.path ?? 'auto', count: String(options.count ?? 3) })
    if (options.interval != null) q.set('interval', String(options.interval))
    if (options.untilDirect === true) q.set('untilDirect', '1')
    return await new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path: `/v1/ping?${q.toString()}`, method: 'GET', signal: options.signal, headers: { connection: 'close' } }, (res) => {
        if (res.statusCode !== 200) { readBody(res).then(body => { reject(errorFrom(res.statusCode, body)) }, reject); return }
        const replies: PingReportReply[] = []
        let rest = ''
        let settled = false
        const onLine = (text: string): void => {
          if (text === '' || settled) return
          const m = JSON.parse(text)
          if (m.reply != null) { replies.push(m.reply); options.onReply?.(m.reply); return }
          settled = true
          if (m.report != null) resolve({ replies, directAfterMs: m.report.directAfterMs, udp: m.report.udp })
          else reject(errorFrom(500, text))
        }
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          const lines = (rest + chunk).split('\n')
          rest = lines.pop() ?? ''
          try { lines.forEach(onLine) } catch (err) { settled = true; reject(err); res.destroy() }
        })
        res.on('end', () => { if (!settled) { settled = true; reject(new PeerupError('the daemon ended the ping without a report')) } })
        res.on('error', (err) => { if (!settled) { settled = true; reject(err) } })
      })
      req.on('error', (err) => { reject(notRunning(this.socketPath, err)) })
      req.end()
    })
  }

  async openTunnel (target: string, service: string, options: ControlTunnelOptions = {}): Promise<ControlTunnel> {
    const q = new URLSearchParams({ target, service, path: options.path ?? 'auto', ...(options.origin != null ? { origin: options.origin } : {}) })
    return await new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath,
        path: `/v1/tunnel?${q.toString()}`,
        method: 'GET',
        signal: this.signal(options.signal),
        headers: { connection: 'Upgrade', upgrade: CONTROL_TUNNEL_UPGRADE }
      })
      req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        const h = (k: string): string | undefined => { const v = res.headers[k]; return Array.isArray(v) ? v[0] : v }
        const path = h('peerup-path') === 'relayed' ? 'relayed' : 'direct'
        const cls = h('peerup-class')
        const pathClass = cls === 'direct-tcp' || cls === 'direct-udp' || cls === 'relayed' ? cls : path === 'relayed' ? 'relayed' : 'direct-tcp'
        resolve({ socket, head, peerId: h('peerup-peer-id') ?? '', path, class: pathClass, relay: h('peerup-relay') })
      })
      req.on('response', (res: IncomingMessage) => {
        readBody(res).then(body => { reject(errorFrom(res.statusCode, body)) }, reject)
      })
      req.on('error', (err) => { reject(notRunning(this.socketPath, err)) })
      req.end()
    })
  }
}

/** Create a control-API client for a daemon's socket. */
export function createControlClient (init: ControlClientInit): ControlClient {
  return new Client(init)
}

/**
 * Join `input`/`output` (stdin/stdout for `peerup nc`) to a daemon tunnel
 * with the semantics of an in-process tunnel: backpressure both ways,
 * half-close both ways (our EOF → FIN frame; the remote's FIN → `output.end()`),
 * and a reset anywhere (an RST frame, or the daemon's socket closing before
 * both FINs) reported as `clean: false`, never as a clean EOF.
 */
export async function tunnelStdio (tunnel: ControlTunnel, input: Readable, output: Writable): Promise<ControlTunnelStats> {
  const { socket } = tunnel
  return await new Promise(resolve => {
    const stats: ControlTunnelStats = { bytesFromStream: 0, bytesToStream: 0, clean: false }
    let remoteFin = false
    let localFin = false
    let outputDone = false
    let socketDone = false
    let finished = false
    const finish = (err?: Error): void => {
      if (finished) return
      if (err == null && !(remoteFin && localFin && outputDone && socketDone)) return
      finished = true
      stats.clean = err == null
      if (err != null) {
        stats.error = err
        socket.destroy()
      }
      input.off('data', onInput)
      input.pause()
      resolve(stats)
    }
    const decode = frameDecoder({
      data: (b) => {
        stats.bytesFromStream += b.byteLength
        if (!output.write(b)) {
          socket.pause()
          output.once('drain', () => { socket.resume() })
        }
      },
      fin: () => {
        remoteFin = true
        output.end()
      },
      rst: (reason) => { finish(new Error(reason)) },
      invalid: (why) => { finish(new Error(`daemon sent ${why}`)) }
    })
    socket.on('data', decode)
    socket.on('error', (err) => { finish(new Error(`control socket: ${err.message}`)) })
    socket.on('close', () => {
      socketDone = true
      if (!remoteFin || !localFin) finish(new Error('the daemon closed the tunnel without a clean end'))
      else finish()
    })
    socket.on('end', () => { if (!remoteFin) finish(new Error('the daemon closed the tunnel without a clean end')) })
    output.on('finish', () => { outputDone = true; finish() })
    output.on('error', (err) => { finish(new Error(`local error: ${err.message}`)) })
    const onInput = (chunk: Buffer): void => {
      stats.bytesToStream += chunk.byteLength
      socket.cork()
      socket.write(frameHeader(FRAME.DATA, chunk.byteLength))
      const ok = socket.write(chunk)
      socket.uncork()
      if (!ok) {
        input.pause()
        socket.once('drain', () => { if (!finished) input.resume() })
      }
    }
    input.on('data', onInput)
    input.on('end', () => {
      localFin = true
      socket.write(encodeFrame(FRAME.FIN))
      finish()
    })
    input.on('error', (err) => { finish(new Error(`local error: ${err.message}`)) })
    if (tunnel.head.byteLength > 0) decode(tunnel.head)
    socket.resume()
    input.resume()
  })
}
