import { isIP, isIPv4 } from 'node:net'

/**
 * SOCKS5 wire format only (RFC 1928 CONNECT, RFC 1929 user/password):
 * incremental parsers over a receive buffer and the reply encoders. No
 * sockets, no mesh: the server drives these.
 */

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

/** Authentication methods (RFC 1928 §3). */
export const SOCKS_METHOD = {
  NO_AUTH: 0x00,
  USER_PASS: 0x02,
  NONE_ACCEPTABLE: 0xff
} as const

/** A destination, as the client asked for it. */
export type SocksDestination =
  | { kind: 'ip', host: string, port: number }
  | { kind: 'domain', host: string, port: number }

/**
 * The outcome of parsing one message from the front of a buffer:
 * `incomplete` (wait for more bytes), `invalid` (not this protocol: close
 * without a reply), `refuse` (answer with a failure reply `code`), or `ok`
 * with the message and the bytes after it.
 */
export type SocksParse<T> =
  | { kind: 'incomplete' }
  | { kind: 'invalid' }
  | { kind: 'refuse', code: number }
  | { kind: 'ok', value: T, rest: Buffer }

const INCOMPLETE = { kind: 'incomplete' } as const
const INVALID = { kind: 'invalid' } as const

/** The greeting: VER NMETHODS METHODS. */
export function parseGreeting (b: Buffer): SocksParse<{ methods: Buffer }> {
  if (b.length < 1) return INCOMPLETE
  if (b[0] !== 0x05) return INVALID
  if (b.length < 2) return INCOMPLETE
  const n = b[1]
  if (b.length < 2 + n) return INCOMPLETE
  return { kind: 'ok', value: { methods: b.subarray(2, 2 + n) }, rest: b.subarray(2 + n) }
}

/** The method selection reply: VER METHOD. */
export function methodReply (method: number): Buffer {
  return Buffer.from([0x05, method])
}

/** RFC 1929 user/password request: VER(1) ULEN UNAME PLEN PASSWD. */
export function parseUserPass (b: Buffer): SocksParse<{ user: Buffer, pass: Buffer }> {
  if (b.length < 1) return INCOMPLETE
  if (b[0] !== 0x01) return INVALID
  if (b.length < 2) return INCOMPLETE
  const ulen = b[1]
  if (b.length < 3 + ulen) return INCOMPLETE
  const plen = b[2 + ulen]
  if (b.length < 3 + ulen + plen) return INCOMPLETE
  return {
    kind: 'ok',
    value: { user: b.subarray(2, 2 + ulen), pass: b.subarray(3 + ulen, 3 + ulen + plen) },
    rest: b.subarray(3 + ulen + plen)
  }
}

/** RFC 1929 status reply: VER(1) STATUS (0 = success). */
export function userPassReply (ok: boolean): Buffer {
  return Buffer.from([0x01, ok ? 0x00 : 0x01])
}

/**
 * The request: VER CMD RSV ATYP DST.ADDR DST.PORT. Only CONNECT is
 * accepted; `rest` holds the client's optimistic data after the request.
 */
export function parseRequest (b: Buffer): SocksParse<SocksDestination> {
  if (b.length < 4) return b.length >= 1 && b[0] !== 0x05 ? INVALID : INCOMPLETE
  if (b[0] !== 0x05) return INVALID
  const cmd = b[1]
  const atyp = b[3]
  let addrLen: number
  if (atyp === 0x01) addrLen = 4
  else if (atyp === 0x04) addrLen = 16
  else if (atyp === 0x03) {
    if (b.length < 5) return INCOMPLETE
    addrLen = 1 + b[4]
  } else {
    return { kind: 'refuse', code: SOCKS_REPLY.ADDRESS_TYPE_NOT_SUPPORTED }
  }
  const total = 4 + addrLen + 2
  if (b.length < total) return INCOMPLETE
  if (cmd !== 0x01) return { kind: 'refuse', code: SOCKS_REPLY.COMMAND_NOT_SUPPORTED }
  const addr = b.subarray(4, 4 + addrLen)
  const port = b.readUInt16BE(4 + addrLen)
  let dest: SocksDestination
  if (atyp === 0x01) dest = { kind: 'ip', host: [...addr].join('.'), port }
  else if (atyp === 0x04) dest = { kind: 'ip', host: ipv6Text(addr), port }
  else {
    const name = addr.subarray(1).toString('latin1')
    dest = isIP(name) !== 0 ? { kind: 'ip', host: name, port } : { kind: 'domain', host: name, port }
  }
  return { kind: 'ok', value: dest, rest: b.subarray(total) }
}

/** A reply: VER REP RSV ATYP BND.ADDR BND.PORT (0.0.0.0:0 without `bound`). */
export function replyBytes (code: number, bound?: { host: string, port: number }): Buffer {
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
