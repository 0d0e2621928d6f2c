/**
 * A registry of live objects that can describe their state (tunnels,
 * circuits), so an operator can see where data is stuck: the CLI prints
 * `dumpState()` to stderr on SIGUSR2.
 */
import { processStats } from './process-stats.js'

const providers = new Map<string, () => unknown>()

/** Register a state provider; returns a function that unregisters it. */
export function registerState (key: string, describe: () => unknown): () => void {
  providers.set(key, describe)
  return () => { providers.delete(key) }
}

/** Describe the process (memory, heap after a full GC when Node runs with `--expose-gc`, open descriptors) and every registered object: an operator's on-demand dump, never a scrape. */
export function dumpState (): Record<string, unknown> {
  const out: Record<string, unknown> = { process: processStats({ collectGarbage: true }) }
  for (const [k, f] of providers) {
    try { out[k] = f() } catch (err: any) { out[k] = `error: ${err.message}` }
  }
  return out
}

let seq = 0
/** A unique key for a registry entry. */
export function stateKey (prefix: string): string {
  return `${prefix}#${++seq}`
}

/** Summary of a libp2p stream for a state dump. */
export function describeStream (s: any): Record<string, unknown> {
  return {
    status: s.status,
    read: s.readStatus,
    write: s.writeStatus,
    remoteWrite: s.remoteWriteStatus,
    readBuf: s.readBufferLength,
    writeBuf: s.writeBufferLength,
    needsDrain: s.writableNeedsDrain,
    sendWindow: s.sendWindowCapacity,
    recvWindow: s.recvWindowCapacity,
    muxState: s.state
  }
}
