import { pingSeries } from '../node/ping-series.js'
import { describePath } from '../paths/dialer.js'
import { checkStunServers, stunCheckProblem } from '../paths/stun-probe.js'
import type { PeerupNode } from '../node/node.js'
import type { PingReply, PingSeriesOptions } from '../node/ping-series.js'
import type { StunCheck } from '../paths/stun-probe.js'

/** One reply of {@link pingReport}, with its path in words (`direct`, `direct-udp`, `relayed via <relay>`). */
export interface PingReportReply extends PingReply {
  description: string
}

/** Outcome of {@link pingReport}: the replies and why there is no direct UDP path. */
export interface PingReport {
  replies: PingReportReply[]
  /** Milliseconds from the start to the first direct reply, or null. */
  directAfterMs: number | null
  udp: {
    available: boolean
    /** Why there is no direct UDP path (addon missing, policy, a STUN server down, hole punching failed), or null. */
    reason: string | null
    stun: string[]
    /** The STUN check, run beside the pings and kept only when the last reply was relayed. */
    stunCheck: StunCheck[]
  }
}

/** Options of {@link pingReport}. */
export interface PingReportOptions extends PingSeriesOptions {
  /** Each reply as it comes. */
  onReply?: (reply: PingReportReply) => void
}

/**
 * Ping `target` (see `pingSeries`) and say why no direct UDP path came up.
 * One function for `peerup ping` in-process and the control API's `/v1/ping`,
 * so both print the same. A failed ping rejects.
 */
export async function pingReport (node: Pick<PeerupNode, 'ping' | 'paths' | 'udp' | 'stunServers'>, target: string, options: PingReportOptions = {}): Promise<PingReport> {
  const { onReply, ...series } = options
  // in parallel with the pings: if no direct UDP path comes up, a failed STUN check says why
  const stunAbort = new AbortController()
  const signal = options.signal != null ? AbortSignal.any([stunAbort.signal, options.signal]) : stunAbort.signal
  const stunChecks = options.path !== 'relay' && node.udp.available ? checkStunServers(node.stunServers, { signal }) : Promise.resolve([])
  const replies: PingReportReply[] = []
  const started = Date.now()
  let directAfterMs: number | undefined
  try {
    for await (const r of pingSeries(node, target, series)) {
      const reply = { ...r, description: describePath(r.path) }
      replies.push(reply)
      if (r.path.path === 'direct') directAfterMs ??= Date.now() - started
      onReply?.(reply)
    }
  } catch (err) {
    stunAbort.abort()
    throw err
  }
  const last = replies[replies.length - 1]
  const udpState = last != null ? node.paths.state(last.peerId) : undefined
  const relayedOnly = last?.path.class === 'relayed'
  if (!relayedOnly) stunAbort.abort()
  const checks = relayedOnly ? await stunChecks : []
  const stunProblem = stunCheckProblem(checks)
  const upgrade = node.paths.unavailable() ?? udpState?.lastError ?? (udpState?.state === 'trying' ? 'still trying' : undefined)
  const noUdp = stunProblem != null ? `${stunProblem}${upgrade != null ? ` (hole punching: ${upgrade})` : ''}` : upgrade
  return {
    replies,
    directAfterMs: directAfterMs ?? null,
    udp: { available: node.udp.available, reason: noUdp ?? null, stun: node.stunServers, stunCheck: checks }
  }
}
