import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { logger } from '@libp2p/logger'
import { writeFileAtomic } from '../config/atomic-write.js'
import { VIP_MAX_NAMES_PER_PEER, VIP_NETWORK, VIP_PREFIX_LENGTH, VIP_RESERVED } from '../constants.js'
import { VirtualIpExhaustedError } from '../errors.js'
import { parsePeerId } from '../auth/identity.js'
import { intToIpv4, ipv4ToInt } from '../network/ipv4.js'

const log = logger('peerup:gateway:vip')

/** One row of the virtual-IP table. */
export interface VirtualIpEntry {
  /** Dotted IPv4 address inside the virtual network. */
  ip: string
  /** Peer ID string. */
  peerId: string
  /** Names seen for the peer (`host.network`, most recently added first), for PTR answers. */
  names: string[]
}

/**
 * The virtual-IP table: one stable IPv4 address in `10.64.0.0/16` per peer
 * ID, shared by the DNS gateway (A and PTR answers), the SOCKS gateway
 * (`10.64.x.y:port` destinations) and, later, the TUN mode.
 */
export interface VirtualIpTable {
  /** The network in CIDR form, `10.64.0.0/16`. */
  readonly cidr: string
  /**
   * The address of a peer, assigning one on first use (and persisting it).
   * A `name` (`host.network`) is remembered for PTR answers and moved away
   * from any other peer that had it.
   *
   * @throws {VirtualIpExhaustedError} when every address is taken
   * @throws {InvalidPeerIdError} when `peerId` is not a peer ID
   */
  assign: (peerId: string, name?: string) => string
  /** The row of an address, if assigned. */
  byIp: (ip: string) => VirtualIpEntry | undefined
  /** The row of a peer, if assigned. */
  byPeer: (peerId: string) => VirtualIpEntry | undefined
  /** True when `ip` is inside the virtual network (assigned or not). */
  contains: (ip: string) => boolean
  /** The address a peer gets when nothing collides with it. */
  preferred: (peerId: string) => string
  /** Every row, ordered by address. */
  entries: () => VirtualIpEntry[]
}

/** Init of {@link createVirtualIpTable}. */
export interface VirtualIpTableInit {
  /**
   * Persist the table in this JSON file (written atomically on every change),
   * so addresses survive restarts even after collisions. Without it the table
   * lives in memory only.
   */
  file?: string
  /**
   * Load `file` but never write it: `assign()` answers what the address
   * would be (for `peerup whoami`).
   *
   * @default false
   */
  readOnly?: boolean
  /**
   * Addresses never assigned, besides every `.0` and `.255`.
   *
   * @default ['10.64.0.1']
   */
  reserved?: string[]
  /**
   * Names remembered per peer.
   *
   * @default 8
   */
  maxNamesPerPeer?: number
  /**
   * The hash that picks a peer's preferred host part; tests inject one to
   * force collisions.
   *
   * @default the first 32 bits of sha256(peer ID)
   */
  hash?: (peerId: string) => number
}

const NETWORK = ipv4ToInt(VIP_NETWORK)
const HOST_BITS = 32 - VIP_PREFIX_LENGTH
const SIZE = 2 ** HOST_BITS
const MASK = ((0xffffffff << HOST_BITS) >>> 0)

function defaultHash (peerId: string): number {
  return createHash('sha256').update(peerId).digest().readUInt32BE(0)
}

function isPeerId (text: unknown): text is string {
  if (typeof text !== 'string') return false
  try {
    return parsePeerId(text).toString() === text
  } catch {
    return false
  }
}

interface TableFile {
  version: 1
  network: string
  entries: Array<{ ip: string, peer_id: string, names?: string[] }>
}

class Table implements VirtualIpTable {
  readonly cidr = `${VIP_NETWORK}/${VIP_PREFIX_LENGTH}`
  private readonly ips = new Map<number, VirtualIpEntry>()
  private readonly peers = new Map<string, VirtualIpEntry>()
  private readonly reserved: Set<number>
  private readonly maxNames: number
  private readonly hash: (peerId: string) => number

  constructor (private readonly init: VirtualIpTableInit) {
    this.reserved = new Set((init.reserved ?? VIP_RESERVED).map(ipv4ToInt))
    this.maxNames = init.maxNamesPerPeer ?? VIP_MAX_NAMES_PER_PEER
    this.hash = init.hash ?? defaultHash
    this.load()
  }

  contains (ip: string): boolean {
    const n = ipv4ToInt(ip)
    return !Number.isNaN(n) && ((n & MASK) >>> 0) === NETWORK
  }

  private usable (host: number): boolean {
    const last = host & 0xff
    return last !== 0 && last !== 255 && !this.reserved.has((NETWORK | host) >>> 0)
  }

  preferred (peerId: string): string {
    return intToIpv4((NETWORK | this.probe(peerId, () => false)) >>> 0)
  }

  /** Linear probing from the peer's hashed host part to the first usable, free host. */
  private probe (peerId: string, taken: (ip: number) => boolean): number {
    const start = (this.hash(peerId) >>> 0) % SIZE
    for (let i = 0; i < SIZE; i++) {
      const host = (start + i) % SIZE
      if (this.usable(host) && !taken((NETWORK | host) >>> 0)) return host
    }
    throw new VirtualIpExhaustedError(`no free address left in ${this.cidr}`)
  }

  assign (peerId: string, name?: string): string {
    let entry = this.peers.get(peerId)
    let changed = false
    if (entry == null) {
      parsePeerId(peerId)
      const ip = (NETWORK | this.probe(peerId, (n) => this.ips.has(n))) >>> 0
      entry = { ip: intToIpv4(ip), peerId, names: [] }
      this.ips.set(ip, entry)
      this.peers.set(peerId, entry)
      changed = true
      log('assigned %s to %s', entry.ip, peerId)
    }
    // a name already known keeps its place, so repeated lookups never rewrite the file
    if (name != null && !entry.names.includes(name)) {
      // a name belongs to one peer: move it away from any other row
      for (const other of this.peers.values()) {
        if (other !== entry && other.names.includes(name)) other.names = other.names.filter(n => n !== name)
      }
      entry.names = [name, ...entry.names.filter(n => n !== name)].slice(0, this.maxNames)
      changed = true
    }
    if (changed) this.save()
    return entry.ip
  }

  byIp (ip: string): VirtualIpEntry | undefined {
    const n = ipv4ToInt(ip)
    if (Number.isNaN(n)) return undefined
    const e = this.ips.get(n)
    return e != null ? { ...e, names: [...e.names] } : undefined
  }

  byPeer (peerId: string): VirtualIpEntry | undefined {
    const e = this.peers.get(peerId)
    return e != null ? { ...e, names: [...e.names] } : undefined
  }

  entries (): VirtualIpEntry[] {
    return [...this.ips.entries()].sort((a, b) => a[0] - b[0]).map(([, e]) => ({ ...e, names: [...e.names] }))
  }

  private load (): void {
    const file = this.init.file
    if (file == null || !existsSync(file)) return
    let parsed: Partial<TableFile>
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'))
    } catch (err: any) {
      log.error('ignoring unreadable virtual-IP table %s: %s', file, err.message)
      return
    }
    if (parsed?.version !== 1 || !Array.isArray(parsed.entries)) {
      log.error('ignoring virtual-IP table %s: unknown format', file)
      return
    }
    for (const row of parsed.entries) {
      const n = ipv4ToInt(String(row?.ip))
      const peerId = row?.peer_id
      const host = (n & ~MASK) >>> 0
      if (Number.isNaN(n) || ((n & MASK) >>> 0) !== NETWORK || !this.usable(host) || !isPeerId(peerId) ||
        this.ips.has(n) || this.peers.has(peerId)) {
        log.error('ignoring bad or duplicate row in %s: %j', file, row)
        continue
      }
      const names = Array.isArray(row.names) ? row.names.filter((x): x is string => typeof x === 'string').slice(0, this.maxNames) : []
      const entry = { ip: intToIpv4(n), peerId, names }
      this.ips.set(n, entry)
      this.peers.set(peerId, entry)
    }
  }

  private save (): void {
    const file = this.init.file
    if (file == null || this.init.readOnly === true) return
    const data: TableFile = {
      version: 1,
      network: this.cidr,
      entries: this.entries().map(e => ({ ip: e.ip, peer_id: e.peerId, names: e.names }))
    }
    try {
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
      writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n', { mode: 0o600 })
    } catch (err: any) {
      // the in-memory table stays authoritative; derived addresses keep most rows stable anyway
      log.error('could not save virtual-IP table %s: %s', file, err.message)
    }
  }
}

/**
 * Create (and load, when `file` exists) the virtual-IP table. A peer's
 * address is derived from its peer ID (hash → host part, skipping `.0`,
 * `.255` and reserved addresses); a collision takes the next free address
 * (linear probing), and the table file records the outcome so that every
 * address stays put across restarts.
 */
export function createVirtualIpTable (init: VirtualIpTableInit = {}): VirtualIpTable {
  return new Table(init)
}
