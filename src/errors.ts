/**
 * Typed errors of the p2pnet library. Match them by `err.name`, never by
 * message text. The CLI maps names to exit codes in one place
 * (`cli/exit-codes.ts`).
 */

/** Base class: carries an optional cause and keeps `name` stable. */
export class PeerupError extends Error {
  static override name = 'PeerupError'
  override name = 'PeerupError'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

/** A configuration file is invalid. `file`, `line` and `keyPath` point at the problem. */
export class ConfigError extends PeerupError {
  static override name = 'ConfigError'
  override name = 'ConfigError'
  readonly file?: string
  readonly line?: number
  readonly keyPath?: string
  constructor (message: string, where: { file?: string, line?: number, keyPath?: string } = {}, options?: { cause?: unknown }) {
    super(message, options)
    this.file = where.file
    this.line = where.line
    this.keyPath = where.keyPath
  }
}

/** A command line is malformed (unknown argument, bad value). */
export class UsageError extends PeerupError {
  static override name = 'UsageError'
  override name = 'UsageError'
}

/** A key or authorized_keys file is readable by group or others. */
export class InsecurePermissionsError extends PeerupError {
  static override name = 'InsecurePermissionsError'
  override name = 'InsecurePermissionsError'
  readonly path: string
  constructor (path: string, mode: number) {
    super(`${path} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}; it must not be accessible by group or others (run: chmod 600 ${path})`)
    this.path = path
  }
}

/** A key file cannot be parsed. */
export class InvalidKeyFileError extends PeerupError {
  static override name = 'InvalidKeyFileError'
  override name = 'InvalidKeyFileError'
}

/** A string is not a valid peer ID. */
export class InvalidPeerIdError extends PeerupError {
  static override name = 'InvalidPeerIdError'
  override name = 'InvalidPeerIdError'
}

/** A file already exists and `--force` was not given. */
export class AlreadyExistsError extends PeerupError {
  static override name = 'AlreadyExistsError'
  override name = 'AlreadyExistsError'
}

/** A name (host, service) is malformed. */
export class InvalidNameError extends PeerupError {
  static override name = 'InvalidNameError'
  override name = 'InvalidNameError'
}

/** A name did not resolve in any tier. */
export class NameNotFoundError extends PeerupError {
  static override name = 'NameNotFoundError'
  override name = 'NameNotFoundError'
  readonly tried: string[]
  constructor (name: string, tried: string[]) {
    super(`name not found: ${name} (tried: ${tried.join(', ')})`)
    this.tried = tried
  }
}

/** The remote peer (or its service) refused us. */
export class NotAuthorizedError extends PeerupError {
  static override name = 'NotAuthorizedError'
  override name = 'NotAuthorizedError'
}

/** A peer is not in the authorized_keys file an edit named (another list, a service's, may have it). */
export class PeerNotListedError extends PeerupError {
  static override name = 'PeerNotListedError'
  override name = 'PeerNotListedError'
}

/** The target could not be reached on any allowed path. */
export class UnreachableError extends PeerupError {
  static override name = 'UnreachableError'
  override name = 'UnreachableError'
}

/** A service is not known (locally or at the remote). */
export class ServiceNotFoundError extends PeerupError {
  static override name = 'ServiceNotFoundError'
  override name = 'ServiceNotFoundError'
}

/** A tunnel ended abnormally (reset, cut relay). */
export class TunnelResetError extends PeerupError {
  static override name = 'TunnelResetError'
  override name = 'TunnelResetError'
}

/** Every address of the virtual-IP network is taken. */
export class VirtualIpExhaustedError extends PeerupError {
  static override name = 'VirtualIpExhaustedError'
  override name = 'VirtualIpExhaustedError'
}

/** No daemon answers on the config's control socket. */
export class DaemonNotRunningError extends PeerupError {
  static override name = 'DaemonNotRunningError'
  override name = 'DaemonNotRunningError'
}

/** Another daemon already serves this config's control socket, or the socket cannot be made safely. */
export class ControlSocketError extends PeerupError {
  static override name = 'ControlSocketError'
  override name = 'ControlSocketError'
}

/** TUN mode cannot run here: not Linux, no koffi, no `/dev/net/tun`, no `CAP_NET_ADMIN`, or the interface could not be set up. */
export class TunUnavailableError extends PeerupError {
  static override name = 'TunUnavailableError'
  override name = 'TunUnavailableError'
}

/** A `/peerup/ip/1.0.0` stream carried a malformed frame. */
export class TunFrameError extends PeerupError {
  static override name = 'TunFrameError'
  override name = 'TunFrameError'
}
