/**
 * A node-side STUN check: one Binding request to each STUN server the node
 * uses, from a socket that hears answers from *any* source, so it can tell
 * three cases apart: the server answered (our public UDP address), the
 * answer came from another address than the one asked (a relay with several
 * addresses answering from the wrong one: a NAT in front of a node drops
 * such answers, and hole punching fails), or no answer came at all (UDP
 * blocked on the way, or that wrong-source answer dropped by our NAT).
 *
 * The WebRTC agent (node-datachannel) does its own STUN and says nothing
 * when it fails; this check is what lets `peerup daemon` and `peerup ping`
 * tell the user why no direct UDP path comes up.
 */
import { randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { isIP, isIPv4 } from 'node:net'
import { STUN_PORT, STUN_PROBE_TIMEOUT } from '../constants.js'
import { STUN_MAGIC_COOKIE } from '../relay/stun-server.js'

/** Outcome of checking one STUN server. */
export interface StunCheck {
  /** The server as configured (`stun:host:port`). */
  server: string
  /** The address the request went to (`ip:port`), once resolved. */
  address?: string
  /** An answer came from {@link address} itself. */
  ok: boolean
  /** Our address as the server saw it (`ip:port`). */
  mapped?: string
  /** Where the answer came from (`ip:port`), when it came at all. */
  from?: string
  /** Round trip of the first answer (ms). */
  rttMs?: number
  /** What is wrong, in one line that says what it means and what to do. */
  problem?: string
}

/** Options of {@link checkStunServers}. */
export interface StunCheckOptions {
  /**
   * How long to wait for answers (ms).
   *
   * @default 2500
   */
  timeoutMs?: number
  /**
   * Local address of the probe socket (tests bind loopback).
   *
   * @default the wildcard of the server's family (an unconnected socket hears every source)
   */
  bindAddress?: string
  signal?: AbortSignal
}

const HEADER = 20

/** Encode a Binding request with transaction ID `txid` (12 bytes). */
export function bindingRequest (txid: Uint8Array): Buffer {
  const b = Buffer.alloc(HEADER)
  b.writeUInt16BE(0x0001, 0)
  b.writeUInt32BE(STUN_MAGIC_COOKIE, 4)
  Buffer.from(txid).copy(b, 8)
  return b
}

/**
 * Decode a Binding success response to `txid`: our mapped address from
 * XOR-MAPPED-ADDRESS (or MAPPED-ADDRESS), or undefined if `msg` is not one.
 */
export function parseBindingSuccess (msg: Uint8Array, txid: Uint8Array): { ip: string, port: number } | undefined {
  const b = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength)
  if (b.byteLength < HEADER || b.readUInt16BE(0) !== 0x0101 || b.readUInt32BE(4) !== STUN_MAGIC_COOKIE) return undefined
  if (!b.subarray(8, 20).equals(Buffer.from(txid))) return undefined
  const end = Math.min(b.byteLength, HEADER + b.readUInt16BE(2))
  const key = b.subarray(4, 20)
  let plain: { ip: string, port: number } | undefined
  for (let off = HEADER; off + 4 <= end;) {
    const type = b.readUInt16BE(off)
    const len = b.readUInt16BE(off + 2)
    const v = b.subarray(off + 4, off + 4 + len)
    if ((type === 0x0020 || type === 0x0001) && v.byteLength >= 8) {
      const xor = type === 0x0020
      const n = v[1] === 0x01 ? 4 : 16
      if (v.byteLength >= 4 + n) {
        const port = v.readUInt16BE(2) ^ (xor ? STUN_MAGIC_COOKIE >>> 16 : 0)
        const raw = [...v.subarray(4, 4 + n)].map((x, i) => xor ? x ^ key[i] : x)
        // WHATWG URL parsing gives the canonical (compressed) IPv6 text
        const ip = n === 4 ? raw.join('.') : new URL(`http://[${Array.from({ length: 8 }, (_, i) => ((raw[2 * i] << 8) | raw[2 * i + 1]).toString(16)).join(':')}]`).hostname.slice(1, -1)
        if (xor) return { ip, port }
        plain ??= { ip, port }
      }
    }
    off += 4 + len + ((4 - (len % 4)) % 4)
  }
  return plain
}

/** `stun:host:port` → host and port. */
function splitStunUrl (url: string): { host: string, port: number } {
  const bare = url.replace(/^stun:/, '')
  const m = /^\[(.+)\](?::(\d+))?$/.exec(bare) ?? /^([^:]+)(?::(\d+))?$/.exec(bare)
  return { host: m?.[1] ?? bare, port: m?.[2] != null ? Number(m[2]) : STUN_PORT }
}

const unmap = (ip: string): string => ip.startsWith('::ffff:') && isIPv4(ip.slice(7)) ? ip.slice(7) : ip
const hostPort = (ip: string, port: number): string => ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`

/** Check one STUN server (see the module comment). Never throws. */
async function checkOne (server: string, options: StunCheckOptions): Promise<StunCheck> {
  const { host, port } = splitStunUrl(server)
  let ip: string
  try {
    ip = isIP(host) !== 0 ? host : (await lookup(host)).address
  } catch (err: any) {
    return { server, ok: false, problem: `STUN server ${server}: cannot resolve ${host} (${String(err?.code ?? err?.message ?? err)})` }
  }
  const address = hostPort(ip, port)
  const v6 = ip.includes(':')
  const socket = createSocket({ type: v6 ? 'udp6' : 'udp4' })
  const txid = randomBytes(12)
  const request = bindingRequest(txid)
  const timeoutMs = options.timeoutMs ?? STUN_PROBE_TIMEOUT
  const started = performance.now()
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind(0, options.bindAddress, () => { socket.off('error', reject); resolve() })
    })
    socket.on('error', () => {})
    const answer = await new Promise<{ from: string, fromIp: string, fromPort: number, mapped: { ip: string, port: number }, rttMs: number } | undefined>((resolve) => {
      const timers: NodeJS.Timeout[] = []
      const done = (v: Parameters<typeof resolve>[0]): void => {
        for (const t of timers) clearTimeout(t)
        options.signal?.removeEventListener('abort', onAbort)
        resolve(v)
      }
      const onAbort = (): void => { done(undefined) }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      socket.on('message', (msg, rinfo) => {
        const mapped = parseBindingSuccess(msg, txid)
        if (mapped == null) return
        const fromIp = unmap(rinfo.address)
        done({ from: hostPort(fromIp, rinfo.port), fromIp, fromPort: rinfo.port, mapped, rttMs: performance.now() - started })
      })
      const send = (): void => { socket.send(request, port, ip, () => {}) }
      // RFC 5389 retransmissions: 0, +0.5 s, +1.5 s
      send()
      timers.push(setTimeout(send, 500), setTimeout(send, 1500), setTimeout(() => { done(undefined) }, timeoutMs))
    })
    if (answer == null && options.signal?.aborted === true) return { server, address, ok: false, problem: `STUN check of ${server} stopped before an answer came` }
    if (answer == null) {
      return {
        server,
        address,
        ok: false,
        problem: `no STUN answer from ${server} within ${(timeoutMs / 1000).toFixed(1)} s, so no direct UDP path can come up: UDP to ${address} is blocked on the way, ` +
          'or the relay answers from another of its addresses and our NAT drops that (a relay with several addresses must answer from each: leave its relay.stun.host unset, and run a current peerup there)'
      }
    }
    const mapped = hostPort(answer.mapped.ip, answer.mapped.port)
    if (answer.fromIp !== unmap(ip) || answer.fromPort !== port) {
      return {
        server,
        address,
        ok: false,
        mapped,
        from: answer.from,
        rttMs: answer.rttMs,
        problem: `the STUN answer for ${server} came from ${answer.from}, not from ${address}: a NAT in front of a node drops such answers, and direct UDP paths fail there; ` +
          'the relay must answer from the address it was asked at (leave its relay.stun.host unset, and run a current peerup there)'
      }
    }
    return { server, address, ok: true, mapped, from: answer.from, rttMs: answer.rttMs }
  } catch (err: any) {
    return { server, address, ok: false, problem: `STUN check of ${server} failed: ${String(err?.message ?? err)}` }
  } finally {
    try { socket.close() } catch {}
  }
}

/**
 * Send one Binding request (with retransmissions) to each server at once and
 * report each outcome; never throws. An empty list yields an empty result.
 */
export async function checkStunServers (servers: string[], options: StunCheckOptions = {}): Promise<StunCheck[]> {
  return await Promise.all(servers.map(async s => await checkOne(s, options)))
}

/** The one line to show for a set of checks: their problems joined, or undefined when every server answered as it should. */
export function stunCheckProblem (checks: StunCheck[]): string | undefined {
  const problems = checks.map(c => c.problem).filter((p): p is string => p != null)
  return problems.length > 0 ? problems.join('; ') : undefined
}
