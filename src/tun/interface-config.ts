import { execFile } from 'node:child_process'
import { logger } from '@libp2p/logger'
import { TunUnavailableError } from '../errors.js'

const log = logger('peerup:tun:ifconfig')

/** What {@link configureInterface} sets on a TUN interface. */
export interface InterfaceConfig {
  /** Interface name. */
  name: string
  /** This node's address, dotted IPv4. */
  address: string
  /** Prefix length of the mesh network; the kernel adds its route with the address. */
  prefixLength: number
  /** MTU in bytes. */
  mtu: number
  /** Path of the `ip` binary. @default 'ip' */
  ip?: string
}

async function run (ip: string, args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile(ip, args, { timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err != null) reject(new TunUnavailableError(`${ip} ${args.join(' ')} failed: ${stderr.trim() !== '' ? stderr.trim() : err.message}`, { cause: err }))
      else resolve()
    })
  })
}

/**
 * Give a TUN interface its address, MTU and the route of the mesh network
 * (`ip addr add <address>/<prefix>` adds the connected route
 * `10.64.0.0/16 dev <name>`), and bring it up, with `ip(8)` from iproute2.
 *
 * @throws {TunUnavailableError} when a command fails (the caller closes the device, which removes the interface)
 */
export async function configureInterface (c: InterfaceConfig): Promise<void> {
  const ip = c.ip ?? 'ip'
  await run(ip, ['link', 'set', 'dev', c.name, 'mtu', String(c.mtu)])
  await run(ip, ['addr', 'add', `${c.address}/${c.prefixLength}`, 'dev', c.name])
  await run(ip, ['link', 'set', 'dev', c.name, 'up'])
  log('%s: %s/%d mtu %d up', c.name, c.address, c.prefixLength, c.mtu)
}

/**
 * Delete an interface if it is still there (a closed non-persistent TUN
 * device is already gone; its routes go with it). Never throws.
 */
export async function removeInterface (name: string, ip = 'ip'): Promise<void> {
  await run(ip, ['link', 'del', 'dev', name]).catch(() => {})
}
