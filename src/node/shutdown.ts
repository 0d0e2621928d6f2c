/**
 * The graceful stop of a node: stop accepting, let tunnels finish within the
 * grace time, reset the rest, then let the last bytes of every tunnel reach
 * the far end before libp2p tears the connections down.
 */
import { logger } from '@libp2p/logger'
import { RELAY_STOP_PROTOCOL, STOP_CLOSE_MIN, STOP_SETTLE_MAX } from '../constants.js'
import { pathOf } from '../paths/path-facts.js'
import type { PeerupLibp2p } from '../network/network.js'
import type { ServiceRegistry } from '../services/service-registry.js'
import type { Connection } from '@libp2p/interface'

const log = logger('peerup:node')

/** What {@link stopNode} stops, in order. */
export interface StoppableParts {
  libp2p: PeerupLibp2p
  services: ServiceRegistry
  /** Timers and watchers to stop once nothing is accepted any more (reservations, path upgrades). */
  background: Array<{ stop: () => void }>
  /** Stopped after the connections closed, before libp2p (the allow-lists' watchers). */
  auth: { stop: () => void }
}

/** Stop a node within `graceMs` (see `PeerupNode.stop`). */
export async function stopNode (parts: StoppableParts, graceMs: number): Promise<void> {
  const { libp2p, services } = parts
  const started = Date.now()
  await services.stopAccepting()
  for (const b of parts.background) b.stop()
  const inflight = services.tunnels()
  if (inflight.length > 0) {
    log('waiting up to %d ms for %d tunnels', graceMs, inflight.length)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(inflight.map(async t => t.done)),
      new Promise(resolve => { timer = setTimeout(resolve, graceMs) })
    ])
    clearTimeout(timer)
    for (const t of services.tunnels()) t.abort()
    // let peers take in the last window of a just-finished tunnel: a socket
    // closed under their late window update is reset, and the reset drops
    // data they had not delivered yet
    const settle = Math.min(STOP_SETTLE_MAX, Math.max(0, graceMs - (Date.now() - started)))
    if (settle > 0) await new Promise(resolve => setTimeout(resolve, settle))
  }
  // a finished tunnel's last bytes and FIN can still sit in write buffers (its
  // relayed connection's, then the relay stream's, which waits for the relay's
  // window); libp2p.stop() closes every connection at once with a 500 ms timeout
  // and aborts the rest, which resets such tunnels at the client
  await closeConnections(libp2p, Math.max(graceMs - (Date.now() - started), STOP_CLOSE_MIN))
  parts.auth.stop()
  await libp2p.stop()
}

/**
 * Let tunnels' last bytes reach the far end before libp2p.stop() tears the
 * connections down. Closing a relayed connection is local (its data is handed
 * to the relay stream and a FIN queued), so also wait for each circuit's STOP
 * stream to close at the far end: the dialer closes its side of the circuit
 * only after reading everything we sent (bounded by `timeoutMs`).
 */
async function closeConnections (libp2p: PeerupLibp2p, timeoutMs: number): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs)
  // relayed and WebRTC connections: both close with data still in flight (the relay stream's, the data channel's)
  const closesFirst = (c: Connection): boolean => pathOf(c).class !== 'direct-tcp'
  const closedOrTimeout = async (target: { status: string, addEventListener: (type: 'close', fn: () => void, o: { once: boolean }) => void }): Promise<void> => {
    await new Promise<void>(resolve => {
      if (target.status === 'closed' || signal.aborted) { resolve(); return }
      target.addEventListener('close', () => { resolve() }, { once: true })
      signal.addEventListener('abort', () => { resolve() }, { once: true })
    })
  }
  const conns = libp2p.getConnections()
  const first = conns.filter(closesFirst)
  await Promise.all(first.map(async c => { await c.close({ signal }).catch((err: Error) => { c.abort(err) }) }))
  const circuits = conns.filter(c => !closesFirst(c)).flatMap(c => c.streams).filter(s => s.protocol === RELAY_STOP_PROTOCOL)
  log('closed %d relayed connections; waiting for %d circuits to close at the far end', first.length, circuits.length)
  await Promise.all(circuits.map(closedOrTimeout))
  log('circuits closed%s', signal.aborted ? ' (timed out)' : '')
}
