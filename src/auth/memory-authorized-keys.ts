import { EventEmitter } from 'node:events'
import { InvalidPeerIdError } from '../errors.js'
import { parseAuthorizedKeys } from './authorized-keys.js'
import type { AuthorizedKey, AuthorizedKeys, AuthorizedKeysEvents, AuthorizedKeysProblem } from './authorized-keys.js'

/**
 * An allow-list held in memory: authorized_keys lines (`<peer-id>
 * [expires=<RFC3339>] [# comment]`) given by a library user instead of a
 * file. It behaves as a file-backed list does, except that {@link
 * MemoryAuthorizedKeys.set} replaces its lines (a `change` event, so the node
 * cuts what the new lines no longer allow) and nothing is read or watched.
 */
export interface MemoryAuthorizedKeys extends AuthorizedKeys {
  /** Replace the lines; throws {@link InvalidPeerIdError} (and keeps the old lines) if one of them is invalid. */
  set (lines: string[]): void
}

class MemoryList extends EventEmitter<AuthorizedKeysEvents> implements MemoryAuthorizedKeys {
  private byPeer = new Map<string, AuthorizedKey>()

  constructor (readonly file: string, lines: string[]) {
    super()
    this.byPeer = this.parse(lines)
  }

  private parse (lines: string[]): Map<string, AuthorizedKey> {
    // a list built in code is an error of the caller's when a line is bad: say so instead of granting nothing
    const { entries, problems } = parseAuthorizedKeys(lines.join('\n'), this.file)
    if (problems.length > 0) throw new InvalidPeerIdError(problems.map(p => `${this.file} line ${p.line}: ${p.message}`).join('; '))
    return new Map(entries.map(e => [e.peerId, e]))
  }

  set (lines: string[]): void {
    const next = this.parse(lines)
    const revoked = [...this.byPeer.keys()].filter(p => !next.has(p))
    this.byPeer = next
    this.emit('change', { revoked })
  }

  isAuthorized (peerId: string): boolean {
    const e = this.byPeer.get(peerId)
    return e != null && (e.expires == null || e.expires.getTime() > Date.now())
  }

  entries (): AuthorizedKey[] { return [...this.byPeer.values()] }
  comment (peerId: string): string | undefined { return this.byPeer.get(peerId)?.comment }
  problems (): AuthorizedKeysProblem[] { return [] }
  reload (): void {}
  close (): void {}
}

/**
 * Create an in-memory allow-list from authorized_keys lines (peer IDs,
 * optionally with `expires=` and a comment). `name` stands where a file's
 * path would, in summaries and log lines.
 *
 * @default name: 'authorized_keys (in memory)'
 */
export function createMemoryAuthorizedKeys (lines: string[], name = 'authorized_keys (in memory)'): MemoryAuthorizedKeys {
  return new MemoryList(name, lines)
}
