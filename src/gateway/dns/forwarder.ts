import { createSocket } from 'node:dgram'
import { getServers } from 'node:dns'
import { connect, isIPv6 } from 'node:net'
import { logger } from '@libp2p/logger'
import { DNS_UPSTREAM_TIMEOUT } from '../../constants.js'
import type { AbortOptions } from '@libp2p/interface'

const log = logger('peerup:gateway:dns')

/** An upstream DNS server. */
export interface DnsServerAddress {
  host: string
  port: number
}

/** Parse `1.2.3.4`, `1.2.3.4:53`, `::1`, `[::1]:53`. */
export function parseDnsServer (text: string): DnsServerAddress | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text)
  if (bracketed != null) return { host: bracketed[1], port: Number(bracketed[2] ?? 53) }
  if (isIPv6(text)) return { host: text, port: 53 }
  const v4 = /^([0-9.]+)(?::(\d{1,5}))?$/.exec(text)
  if (v4 != null) return { host: v4[1], port: Number(v4[2] ?? 53) }
  return undefined
}

/** The system's resolvers (`/etc/resolv.conf` on Unix). */
export function systemDnsServers (): DnsServerAddress[] {
  return getServers().map(parseDnsServer).filter((s): s is DnsServerAddress => s != null)
}

/** Options of {@link forwardDnsQuery}. */
export interface ForwardOptions extends AbortOptions {
  /** Ask over TCP (for queries that came over TCP). */
  tcp?: boolean
  /**
   * Per-server time limit (ms).
   *
   * @default 2000
   */
  timeout?: number
}

const MAX_TCP_MESSAGE = 0xffff

async function askUdp (query: Uint8Array, server: DnsServerAddress, signal: AbortSignal): Promise<Uint8Array> {
  return await new Promise((resolve, reject) => {
    const sock = createSocket(isIPv6(server.host) ? 'udp6' : 'udp4')
    const done = (err?: Error, msg?: Uint8Array): void => {
      signal.removeEventListener('abort', onAbort)
      try { sock.close() } catch {}
      if (err != null) reject(err)
      else resolve(msg!)
    }
    const onAbort = (): void => { done(new Error('timed out')) }
    signal.addEventListener('abort', onAbort, { once: true })
    sock.on('error', (err) => { done(err) })
    sock.on('message', (msg, rinfo) => {
      // only the server we asked, with our transaction ID, may answer
      if (rinfo.port !== server.port || msg.length < 2 || msg[0] !== query[0] || msg[1] !== query[1]) return
      done(undefined, msg)
    })
    sock.send(query, server.port, server.host, (err) => { if (err != null) done(err) })
  })
}

async function askTcp (query: Uint8Array, server: DnsServerAddress, signal: AbortSignal): Promise<Uint8Array> {
  return await new Promise((resolve, reject) => {
    const sock = connect({ host: server.host, port: server.port })
    let buf = Buffer.alloc(0)
    const done = (err?: Error, msg?: Uint8Array): void => {
      signal.removeEventListener('abort', onAbort)
      sock.destroy()
      if (err != null) reject(err)
      else resolve(msg!)
    }
    const onAbort = (): void => { done(new Error('timed out')) }
    signal.addEventListener('abort', onAbort, { once: true })
    sock.on('error', (err) => { done(err) })
    sock.on('end', () => { done(new Error('upstream closed the connection')) })
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (buf.length > MAX_TCP_MESSAGE + 2) { done(new Error('upstream answer too long')); return }
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(undefined, buf.subarray(2, 2 + buf.readUInt16BE(0)))
    })
    const len = Buffer.alloc(2)
    len.writeUInt16BE(query.length)
    sock.write(Buffer.concat([len, query]))
  })
}

/**
 * Forward a raw query to each server in turn until one answers; the
 * answer is returned as received (same transaction ID). Resolves to
 * `undefined` when no server answered in time.
 */
export async function forwardDnsQuery (query: Uint8Array, servers: DnsServerAddress[], options: ForwardOptions = {}): Promise<Uint8Array | undefined> {
  for (const server of servers) {
    if (options.signal?.aborted === true) return undefined
    const signal = AbortSignal.any([AbortSignal.timeout(options.timeout ?? DNS_UPSTREAM_TIMEOUT), ...(options.signal != null ? [options.signal] : [])])
    try {
      return options.tcp === true ? await askTcp(query, server, signal) : await askUdp(query, server, signal)
    } catch (err: any) {
      log('upstream %s:%d failed: %s', server.host, server.port, err.message)
    }
  }
  return undefined
}
