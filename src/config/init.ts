import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from './atomic-write.js'
import {
  DEFAULT_NODE_PORT, DEFAULT_RELAY_LISTEN, INIT_NODE_LISTEN, RELAY_MAX_CIRCUITS, RELAY_MAX_CIRCUITS_PER_PEER, RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND, RELAY_MAX_RESERVATIONS
} from '../constants.js'
import { AlreadyExistsError, UsageError } from '../errors.js'
import { generateIdentityFile, peerIdOf } from '../auth/identity.js'
import { configSchema, relayAddressProblem } from './schema.js'
import { loadYamlFile } from './yaml-file.js'

/** Init of {@link initConfigDir}. */
export interface InitConfigOptions {
  /** Directory to write into (created 0700 if missing). */
  dir: string
  /** Config file name inside `dir`. @default 'config.yaml' */
  configName?: string
  role: 'relay' | 'home' | 'client'
  /** Network name (DNS label). */
  network?: string
  /** Host name of this node (DNS label). */
  name?: string
  /** Relay multiaddrs, each ending in `/p2p/<id>`. */
  relays?: string[]
  /**
   * Listen multiaddrs.
   *
   * @default relay: TCP 7777 and WebSockets 7778; home and client: `/ip4/0.0.0.0/tcp/4001`, a fixed port so a port forward or an announced address survives restarts
   */
  listen?: string[]
  /** Overwrite existing files. @default false */
  force?: boolean
}

/** What {@link initConfigDir} wrote. */
export interface InitResult {
  peerId: string
  configFile: string
  keyFile: string
  authorizedKeysFile: string
  namesFile: string
}

const q = (s: string): string => JSON.stringify(s)

function template (o: InitConfigOptions): string {
  const lines = [
    '# peerup configuration. Relative paths resolve against this file\'s directory.',
    'version: 1',
    `role: ${o.role}`,
    'identity:',
    '  key_file: identity.key        # Ed25519 key, mode 0600',
    'network:'
  ]
  if (o.network != null) lines.push(`  name: ${o.network}`)
  if (o.name != null) lines.push(`  host: ${o.name}`)
  const listen = o.listen ?? (o.role === 'relay' ? DEFAULT_RELAY_LISTEN : INIT_NODE_LISTEN)
  lines.push(o.role === 'relay' || o.listen != null ? '  listen:' : '  listen:                      # a fixed port: a port forward or an announced address keeps working')
  for (const l of listen) lines.push(`    - ${q(l)}`)
  if (o.role !== 'relay' && o.listen == null) lines.push(`    # - "/ip6/::/tcp/${DEFAULT_NODE_PORT}"     # IPv6 too`)
  lines.push('  announce: []                # extra public addresses (port forward, DNS name)')
  lines.push('  upnp: false                 # true: ask the router for a port mapping (UPnP IGD), see docs/NAT.md')
  if (o.role !== 'relay') {
    lines.push('relays:                       # relay multiaddrs ending in /p2p/<relay-peer-id>')
    for (const r of o.relays ?? []) lines.push(`  - ${q(r)}`)
    if ((o.relays ?? []).length === 0) lines[lines.length - 1] = 'relays: []                    # relay multiaddrs ending in /p2p/<relay-peer-id>'
  }
  lines.push(
    'security:',
    '  authorized_keys_file: authorized_keys',
    '  enable_gating: true         # deny everyone not in authorized_keys'
  )
  if (o.role !== 'relay') lines.push('names_file: names.yaml')
  if (o.role === 'home') {
    lines.push(
      'services: {}',
      '# services:',
      '#   ssh:',
      '#     local_address: 127.0.0.1:22',
      '#     authorized_keys: ssh_authorized_keys   # optional per-service allow-list'
    )
  }
  if (o.role === 'relay') {
    lines.push(
      'relay:',
      `  max_reservations: ${RELAY_MAX_RESERVATIONS}`,
      `  max_circuits: ${String(RELAY_MAX_CIRCUITS).padEnd(15)} # circuits open at once; on a 1 GB VPS use ~48 (docs/RELAY.md)`,
      `  max_circuits_per_peer: ${RELAY_MAX_CIRCUITS_PER_PEER}`,
      `  max_circuits_per_peer_per_second: ${RELAY_MAX_CIRCUITS_PER_PEER_PER_SECOND}`,
      '  limits: {}                  # members get no data/duration limit; set data_bytes / duration_seconds to cap'
    )
  }
  return lines.join('\n') + '\n'
}

/**
 * Create a config directory: `config.yaml`, `identity.key` (0600),
 * `authorized_keys` (0600) and `names.yaml`. Refuses to overwrite any of them
 * unless `force` is set.
 */
export async function initConfigDir (o: InitConfigOptions): Promise<InitResult> {
  for (const r of o.relays ?? []) {
    const problem = relayAddressProblem(r)
    if (problem != null) throw new UsageError(`relay ${problem}`)
  }
  mkdirSync(o.dir, { recursive: true, mode: 0o700 })
  const configFile = join(o.dir, o.configName ?? 'config.yaml')
  const keyFile = join(o.dir, 'identity.key')
  const authorizedKeysFile = join(o.dir, 'authorized_keys')
  const namesFile = join(o.dir, 'names.yaml')
  const files = [configFile, keyFile, authorizedKeysFile, ...(o.role !== 'relay' ? [namesFile] : [])]
  if (o.force !== true) {
    const existing = files.filter(f => existsSync(f))
    if (existing.length > 0) throw new AlreadyExistsError(`${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''} (use --force to overwrite)`)
  }
  const text = template(o)
  loadYamlFile(configFile, configSchema, text)
  const key = await generateIdentityFile(keyFile, { overwrite: true })
  writeFileAtomic(configFile, text, { mode: 0o600 })
  writeFileAtomic(authorizedKeysFile, `# ${o.role === 'relay' ? 'members of this relay' : 'peers allowed to connect'}: one peer ID per line, optional expires=<RFC3339>, # comment\n`, { mode: 0o600 })
  if (o.role !== 'relay') writeFileAtomic(namesFile, '# names: <name>: <peer-id>   or   <name>: { peer_id: ..., addrs: [...] }\nnames: {}\n', { mode: 0o644 })
  return { peerId: peerIdOf(key).toString(), configFile, keyFile, authorizedKeysFile, namesFile }
}
