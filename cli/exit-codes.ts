/** Exit codes of the peerup CLI, documented in `peerup --help`. */
export const EXIT = {
  OK: 0,
  RUNTIME: 1,
  USAGE: 2,
  NOT_AUTHORIZED: 3,
  UNREACHABLE: 4
} as const

const BY_NAME: Record<string, number> = {
  ConfigError: EXIT.USAGE,
  UsageError: EXIT.USAGE,
  InsecurePermissionsError: EXIT.USAGE,
  InvalidKeyFileError: EXIT.USAGE,
  InvalidPeerIdError: EXIT.USAGE,
  InvalidNameError: EXIT.USAGE,
  AlreadyExistsError: EXIT.USAGE,
  NotAuthorizedError: EXIT.NOT_AUTHORIZED,
  NameNotFoundError: EXIT.UNREACHABLE,
  UnreachableError: EXIT.UNREACHABLE,
  ServiceNotFoundError: EXIT.UNREACHABLE,
  PeerNotListedError: EXIT.UNREACHABLE,
  DaemonNotRunningError: EXIT.UNREACHABLE,
  ControlSocketError: EXIT.USAGE,
  TunUnavailableError: EXIT.USAGE
}

/** The exit code for an error, by its `name`. */
export function exitCodeFor (err: unknown): number {
  const name = (err as Error)?.name
  return BY_NAME[name] ?? EXIT.RUNTIME
}

/** Help text listing the exit codes. */
export const EXIT_HELP = `
Exit codes:
  0  ok
  1  runtime failure (tunnel reset, I/O error)
  2  usage or configuration error (bad flag, bad YAML, unsafe file mode)
  3  not authorized (the remote, its service or the relay refused us, or our own authorized_keys lacks the peer)
  4  unreachable or not found (name, peer, service, forced path)
`
