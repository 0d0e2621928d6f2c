import { closeSync, constants as fsc, openSync, writeSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { logger } from '@libp2p/logger'
import { TUN_READ_BATCH_BYTES, TUN_READ_MAX_INFLIGHT } from '../constants.js'
import { TunUnavailableError } from '../errors.js'
import { loadLibc } from './libc.js'
import type { TunReaderData } from './tun-reader-worker.js'

const log = logger('peerup:tun:device')

/** `_IOW('T', 202, int)` */
const TUNSETIFF = 0x400454ca
const IFF_TUN = 0x0001
const IFF_NO_PI = 0x1000
const IFNAMSIZ = 16
const ERRNO: Record<number, string> = { 1: 'EPERM', 13: 'EACCES', 16: 'EBUSY', 19: 'ENODEV', 22: 'EINVAL' }

/** Init of {@link openTunDevice}. */
export interface TunDeviceInit {
  /** Interface name (at most 15 bytes). */
  name: string
  /** Largest packet read from the device: its MTU. */
  mtu: number
  /**
   * Batches of packets handed to the main thread and not yet processed,
   * after which the reader stops reading.
   *
   * @default 4
   */
  maxInflight?: number
  /**
   * Bytes per batch (at least one MTU-sized packet fits).
   *
   * @default 262144
   */
  batchBytes?: number
}

/** An open TUN device (IFF_TUN, no packet information header). */
export interface TunDevice {
  /** Interface name the kernel gave it. */
  readonly name: string
  /**
   * Called with each batch of packets read from the device, framed
   * (2-byte big-endian length + packet, repeated). The buffer is the
   * handler's to keep.
   */
  onBatch: (batch: Uint8Array) => void
  /** Called once if the reader thread fails. */
  onError: (err: Error) => void
  /** Write one packet to the device (the kernel takes it as received). */
  write: (packet: Uint8Array) => void
  /** Stop the reader and close the device; the kernel then deletes the interface. */
  close: () => Promise<void>
}

/**
 * Open `/dev/net/tun` and attach it to a new (or idle) TUN interface with
 * `ioctl(TUNSETIFF)`. The interface is not persistent: it disappears when the
 * device is closed, also when the process dies, so a crash leaves nothing
 * behind. Reads run on a dedicated worker thread (`tun-reader-worker.ts`);
 * writes are synchronous `write(2)` calls, which never block on a TUN device.
 *
 * @throws {TunUnavailableError} without Linux, koffi, `/dev/net/tun` or `CAP_NET_ADMIN`
 */
export async function openTunDevice (init: TunDeviceInit): Promise<TunDevice> {
  const libc = loadLibc()
  if (Buffer.byteLength(init.name) >= IFNAMSIZ || !/^[A-Za-z0-9_.-]+$/.test(init.name)) {
    throw new TunUnavailableError(`bad interface name "${init.name}": 1-15 characters of A-Z, a-z, 0-9, "_", "-", "."`)
  }
  let fd: number
  try {
    fd = openSync('/dev/net/tun', fsc.O_RDWR | fsc.O_NONBLOCK)
  } catch (err: any) {
    throw new TunUnavailableError(`cannot open /dev/net/tun (${err.code ?? err.message}): TUN mode needs the tun kernel module and root or CAP_NET_ADMIN`, { cause: err })
  }
  const ifr = new Uint8Array(40)
  ifr.set(Buffer.from(init.name))
  new DataView(ifr.buffer).setUint16(IFNAMSIZ, IFF_TUN | IFF_NO_PI, true)
  if (libc.ioctl(fd, TUNSETIFF, ifr) < 0) {
    const e = libc.errno()
    closeSync(fd)
    const why = e === 1 || e === 13
      ? 'TUN mode needs root or CAP_NET_ADMIN'
      : e === 16 ? `interface ${init.name} exists and is in use (another peerup?)` : 'is it a TUN interface?'
    throw new TunUnavailableError(`cannot create TUN interface ${init.name} (${ERRNO[e] ?? `errno ${e}`}): ${why}`)
  }
  const name = Buffer.from(ifr.subarray(0, IFNAMSIZ)).toString().replace(/\0.*$/s, '')
  const control = new SharedArrayBuffer(8)
  const ctl = new Int32Array(control)
  const data: TunReaderData = {
    fd,
    mtu: init.mtu,
    control,
    maxInflight: init.maxInflight ?? TUN_READ_MAX_INFLIGHT,
    batchBytes: init.batchBytes ?? TUN_READ_BATCH_BYTES
  }
  const worker = new Worker(new URL('./tun-reader-worker.js', import.meta.url), { workerData: data })
  const exited = new Promise<void>(resolve => { worker.once('exit', () => { resolve() }) })
  let closed = false
  const device: TunDevice = {
    name,
    onBatch: () => {},
    onError: (err) => { log.error('%s: %s', name, err.message) },
    write (packet) {
      if (closed) return
      writeSync(fd, packet)
    },
    async close () {
      if (closed) return
      closed = true
      Atomics.store(ctl, 0, 1)
      Atomics.notify(ctl, 1)
      await exited
      closeSync(fd)
      log('closed %s', name)
    }
  }
  worker.on('message', (msg: { buffer?: ArrayBuffer, length?: number, error?: string }) => {
    if (msg.error != null) { device.onError(new Error(`${name}: ${msg.error}`)); return }
    Atomics.sub(ctl, 1, 1)
    Atomics.notify(ctl, 1)
    if (!closed && msg.buffer != null) device.onBatch(new Uint8Array(msg.buffer, 0, msg.length))
  })
  worker.on('error', (err) => { device.onError(err) })
  worker.unref()
  log('opened %s (fd %d, mtu %d)', name, fd, init.mtu)
  return device
}
