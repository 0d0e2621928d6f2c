import type { Logger } from '@libp2p/interface'

/**
 * Say that a patch did not find the upstream internal it expects (a
 * dependency bump moved it): on the logger as an error, and on stderr when
 * that logger is not enabled, since the cost (CPU, stalled tunnels) is
 * otherwise silent. Callers report once per node.
 */
export function reportMissingInternal (log: Logger, patch: string, what: string, cost: string): void {
  const line = `${patch}: ${what} is missing (a dependency changed?): left unpatched, ${cost}; see src/network/patches/README.md`
  log.error('%s', line)
  if ((log.error as { enabled?: boolean }).enabled !== true) process.stderr.write(`peerup: warning: ${line}\n`)
}
