import { createRequire } from 'node:module'
import { TunUnavailableError } from '../errors.js'

/**
 * The four libc calls TUN mode needs (`ioctl`, `poll`, `read`, and `errno`),
 * bound through koffi, an FFI whose npm platform packages ship prebuilt
 * binaries: nothing compiles at install time. koffi is an optional
 * dependency, so a machine where it is missing still runs the rest of
 * peerup; TUN mode then fails with {@link TunUnavailableError}.
 */
export interface Libc {
  /** `ioctl(fd, request, arg)`; returns -1 and sets errno on failure. */
  ioctl: (fd: number, request: number, arg: Uint8Array) => number
  /** `poll(fds, nfds, timeoutMs)` over an array of `struct pollfd`. */
  poll: (fds: Uint8Array, nfds: number, timeoutMs: number) => number
  /** `read(fd, buf, count)` into `buf` (a view: it reads at its offset). */
  read: (fd: number, buf: Uint8Array, count: number) => number
  /** The calling thread's errno after the last failed call. */
  errno: () => number
}

let cached: Libc | undefined

/**
 * Load the libc binding (once per thread).
 *
 * @throws {TunUnavailableError} when not on Linux or koffi cannot load
 */
export function loadLibc (): Libc {
  if (cached != null) return cached
  if (process.platform !== 'linux') throw new TunUnavailableError(`TUN mode needs Linux (this is ${process.platform})`)
  let koffi: any
  try {
    koffi = createRequire(import.meta.url)('koffi')
  } catch (err: any) {
    throw new TunUnavailableError(`TUN mode needs the optional dependency "koffi", which did not load (${err.message}); run npm install on a supported platform`, { cause: err })
  }
  const lib = koffi.load('libc.so.6')
  const ioctl = lib.func('int ioctl(int fd, unsigned long request, ...)')
  const poll = lib.func('int poll(void *fds, unsigned long nfds, int timeout)')
  const read = lib.func('long read(int fd, void *buf, unsigned long count)')
  cached = {
    ioctl: (fd, request, arg) => ioctl(fd, request, 'void *', arg),
    poll: (fds, nfds, timeout) => poll(fds, nfds, timeout),
    read: (fd, buf, count) => Number(read(fd, buf, count)),
    errno: () => koffi.errno()
  }
  return cached
}
