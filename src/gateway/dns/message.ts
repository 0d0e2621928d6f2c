import { Packet } from 'dns2'

/** DNS record types the gateway answers or names. */
export const DNS_TYPE = { A: 1, NS: 2, SOA: 6, PTR: 12, AAAA: 28, OPT: 41, ANY: 255 } as const
/** DNS classes. */
export const DNS_CLASS = { IN: 1, ANY: 255 } as const
/** Response codes (RFC 1035, 6891). */
export const DNS_RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const

/** Size of the fixed DNS header. */
export const DNS_HEADER_SIZE = 12
/** Largest UDP answer a resolver must accept without EDNS. */
export const DNS_CLASSIC_UDP_LIMIT = 512

const MAX_NAME = 255
const MAX_LABEL = 63
const MAX_POINTERS = 64

/** The question of a query. */
export interface DnsQuestion {
  /** Labels as received (bytes as latin1 characters, case kept). */
  labels: string[]
  /** Labels joined with dots, lower-cased; for matching only. */
  lower: string
  type: number
  class: number
  /** False when a label holds a dot or a byte dns2 cannot write back; the question is then left out of answers. */
  encodable: boolean
}

/** The EDNS OPT record of a query. */
export interface DnsEdns {
  /** Requestor's UDP payload size (already raised to 512 when lower). */
  udpSize: number
  version: number
  dnssecOk: boolean
}

/** A query that passed the bounded parser. */
export interface DnsQuery {
  id: number
  opcode: number
  rd: boolean
  cd: boolean
  question: DnsQuestion
  edns?: DnsEdns
}

/**
 * Outcome of {@link parseDnsQuery}:
 * - `drop`: no answer at all (too short to carry a header, or it is a response);
 * - `error`: answer with `rcode` and an empty question section;
 * - `query`: a well-formed query.
 */
export type ParsedDnsQuery =
  | { kind: 'drop', reason: string }
  | { kind: 'error', id: number, opcode: number, rd: boolean, rcode: number, reason: string, edns?: DnsEdns }
  | { kind: 'query', query: DnsQuery }

class Malformed extends Error {}

/**
 * Read a (possibly compressed) name at `offset`. Every compression pointer
 * must point strictly backwards and past the header, so loops cannot
 * happen; labels are ≤ 63 octets and the whole name ≤ 255 octets.
 */
function readName (buf: Uint8Array, offset: number): { labels: string[], end: number } {
  const labels: string[] = []
  let pos = offset
  let end = -1
  let wire = 1
  let jumps = 0
  for (;;) {
    if (pos >= buf.length) throw new Malformed('name runs past the end of the message')
    const len = buf[pos]
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length) throw new Malformed('truncated compression pointer')
      const target = ((len & 0x3f) << 8) | buf[pos + 1]
      if (target >= pos || target < DNS_HEADER_SIZE) throw new Malformed('compression pointer does not point backwards into the message')
      if (++jumps > MAX_POINTERS) throw new Malformed('too many compression pointers')
      if (end < 0) end = pos + 2
      pos = target
      continue
    }
    if ((len & 0xc0) !== 0) throw new Malformed(`unsupported label type 0x${len.toString(16)}`)
    if (len === 0) {
      if (end < 0) end = pos + 1
      return { labels, end }
    }
    if (len > MAX_LABEL) throw new Malformed('label longer than 63 octets')
    wire += len + 1
    if (wire > MAX_NAME) throw new Malformed('name longer than 255 octets')
    if (pos + 1 + len > buf.length) throw new Malformed('label runs past the end of the message')
    labels.push(Buffer.from(buf.buffer, buf.byteOffset + pos + 1, len).toString('latin1'))
    pos += 1 + len
  }
}

/**
 * Parse a DNS query with a small, bounded parser: the header, exactly one
 * question and the resource records after it (only to find the EDNS OPT
 * record). Work is linear in the message size; nothing in the input can
 * make it loop, recurse or allocate beyond the message.
 */
export function parseDnsQuery (buf: Uint8Array): ParsedDnsQuery {
  if (buf.length < DNS_HEADER_SIZE) return { kind: 'drop', reason: `message of ${buf.length} octets is shorter than a header` }
  const id = (buf[0] << 8) | buf[1]
  const qr = (buf[2] & 0x80) !== 0
  const opcode = (buf[2] >> 3) & 0x0f
  const rd = (buf[2] & 0x01) !== 0
  const cd = (buf[3] & 0x10) !== 0
  if (qr) return { kind: 'drop', reason: 'message is a response' }
  const count = (i: number): number => (buf[i] << 8) | buf[i + 1]
  const qdcount = count(4)
  const rrcount = count(6) + count(8) + count(10)
  if (opcode !== 0) return { kind: 'error', id, opcode, rd, rcode: DNS_RCODE.NOTIMP, reason: `opcode ${opcode} not implemented` }
  if (qdcount !== 1) return { kind: 'error', id, opcode, rd, rcode: DNS_RCODE.FORMERR, reason: `${qdcount} questions` }
  try {
    const q = readName(buf, DNS_HEADER_SIZE)
    let pos = q.end
    if (pos + 4 > buf.length) throw new Malformed('question runs past the end of the message')
    const type = count(pos)
    const klass = count(pos + 2)
    pos += 4
    let edns: DnsEdns | undefined
    for (let i = 0; i < rrcount; i++) {
      const rr = readName(buf, pos)
      pos = rr.end
      if (pos + 10 > buf.length) throw new Malformed('record runs past the end of the message')
      const rtype = count(pos)
      const rclass = count(pos + 2)
      const ttl = ((buf[pos + 4] << 24) | (buf[pos + 5] << 16) | (buf[pos + 6] << 8) | buf[pos + 7]) >>> 0
      const rdlen = count(pos + 8)
      pos += 10 + rdlen
      if (pos > buf.length) throw new Malformed('record data runs past the end of the message')
      if (rtype === DNS_TYPE.OPT) {
        if (edns != null) throw new Malformed('more than one OPT record')
        if (rr.labels.length !== 0) throw new Malformed('OPT record not owned by the root')
        edns = { udpSize: Math.max(rclass, DNS_CLASSIC_UDP_LIMIT), version: (ttl >>> 16) & 0xff, dnssecOk: (ttl & 0x8000) !== 0 }
      }
    }
    const labels = q.labels
    const encodable = labels.every(l => !l.includes('.'))
    return {
      kind: 'query',
      query: { id, opcode, rd, cd, question: { labels, lower: labels.join('.').toLowerCase(), type, class: klass, encodable }, edns }
    }
  } catch (err) {
    if (err instanceof Malformed) return { kind: 'error', id, opcode, rd, rcode: DNS_RCODE.FORMERR, reason: err.message }
    throw err
  }
}

/** One record of an answer. */
export type DnsRecord =
  | { type: typeof DNS_TYPE.A, name: string, ttl: number, address: string }
  | { type: typeof DNS_TYPE.PTR, name: string, ttl: number, domain: string }
  | { type: typeof DNS_TYPE.SOA, name: string, ttl: number, primary: string, admin: string, serial: number, refresh: number, retry: number, expiration: number, minimum: number }

/** What to answer. */
export interface DnsAnswer {
  rcode: number
  /** Authoritative answer (our zones). */
  aa?: boolean
  /** Recursion available (we forward other names). */
  ra?: boolean
  answers?: DnsRecord[]
  authorities?: DnsRecord[]
  /** Send no records and set TC, so the client retries over TCP. */
  truncated?: boolean
}

/** The request an answer is for: a parsed query, or the header fields of a rejected one. */
export interface DnsRequestHeader {
  id: number
  opcode: number
  rd: boolean
  cd?: boolean
  question?: DnsQuestion
  edns?: DnsEdns
}

/**
 * Encode an answer with dns2's `Packet`, never larger than `maxSize`: an
 * answer that does not fit loses its records and gets the TC bit, so the
 * client retries over TCP (RFC 1035 §4.2.1, RFC 6891 §7).
 */
export function encodeDnsAnswer (req: DnsRequestHeader, answer: DnsAnswer, maxSize: number, advertisedUdpSize: number): Uint8Array {
  const build = (withRecords: boolean, withQuestion: boolean): Buffer => {
    const p = new Packet()
    p.header = new Packet.Header({
      id: req.id,
      qr: 1,
      opcode: req.opcode,
      aa: answer.aa === true ? 1 : 0,
      tc: withRecords ? 0 : 1,
      rd: req.rd ? 1 : 0,
      ra: answer.ra === true ? 1 : 0,
      cd: req.cd === true ? 1 : 0,
      rcode: answer.rcode
    } as any)
    const q = req.question
    if (withQuestion && q != null && q.encodable) {
      p.questions.push({ name: q.labels.join('.'), type: q.type, class: q.class } as any)
    }
    if (withRecords) {
      for (const r of answer.answers ?? []) p.answers.push({ class: DNS_CLASS.IN, ...r } as any)
      for (const r of answer.authorities ?? []) p.authorities.push({ class: DNS_CLASS.IN, ...r } as any)
    }
    // an OPT record is required for an extended RCODE and expected when the query had one
    if (req.edns != null || answer.rcode > 0x0f) {
      p.additionals.push(Packet.Resource.EDNS([], { udpPayloadSize: advertisedUdpSize }) as any)
    }
    return p.toBuffer()
  }
  let out = answer.truncated === true ? build(false, true) : build(true, true)
  if (out.length > maxSize) out = build(false, true)
  if (out.length > maxSize) out = build(false, false)
  return out
}
