import { createServer } from 'node:http'
import { parseHostPort } from '../services/service-registry.js'
import type { Server } from 'node:http'

/** Init of {@link serveMetrics}. */
export interface MetricsHttpInit {
  /** `host:port` to listen on (port 0 picks one). */
  listen: string
  /** The Prometheus text, produced per scrape. */
  render: () => string
}

/** A running `/metrics` listener. */
export interface MetricsHttp {
  /** The bound `host:port` (`[v6]:port` for IPv6). */
  readonly address: string
  close: () => Promise<void>
}

/**
 * Serve Prometheus `GET /metrics` (and nothing else) on a TCP address: the
 * daemon's `daemon.metrics_listen` and the relay's `relay.metrics_listen`.
 * Off unless configured; bind it to loopback or a private interface, as the
 * numbers tell who uses the node and how much.
 *
 * @throws the listen error (address in use, not permitted)
 */
export async function serveMetrics (init: MetricsHttpInit): Promise<MetricsHttp> {
  const { host, port } = parseHostPort(init.listen)
  const server: Server = createServer({}, (req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?') === true)) {
      let body: string
      try { body = init.render() } catch (err: any) {
        res.writeHead(500, { 'content-type': 'text/plain' })
        res.end(`metrics failed: ${String(err.message)}\n`)
        return
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' })
      res.end(body)
    } else {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ error: { name: 'NotFound', message: 'only GET /metrics is served here' } }) + '\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  const a = server.address()
  const address = typeof a === 'object' && a != null ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : init.listen
  return {
    address,
    async close () {
      await Promise.race([
        new Promise<void>(resolve => { server.close(() => { resolve() }) }),
        new Promise(resolve => setTimeout(resolve, 500))
      ])
      server.closeAllConnections?.()
    }
  }
}
