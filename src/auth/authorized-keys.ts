import { EventEmitter } from 'node:events'
import { existsSync, readFileSync, unwatchFile, watchFile } from 'node:fs'
import { logger } from '@libp2p/logger'
import { writeFileAtomic } from '../config/atomic-write.js'
import { AUTHORIZED_KEYS_POLL_INTERVAL } from '../constants.js'
import { assertPrivateFile } from './file-mode.js'
import { parsePeerId } from './identity.js'

const log = logger('peerup:auth')

/** Attributes an authorized_keys line may carry. Anything else makes the line grant nothing. */
export const KNOWN_ATTRIBUTES = ['expires'] as const

/** One granting line of an authorized_keys file. */
export interface AuthorizedKey {
  /** Canonical peer ID string. */
  peerId: string
  /** `key=value` attributes of the line. */
  attributes: Record<string, string>
  /** Text after `#`, trimmed. */
  comment?: string
  /** Expiry from `expires=<RFC3339>`. */
  expires?: Date
  /** 1-based line number. */
  line: number
}

/** A line that grants nothing, with the reason. */
export interface AuthorizedKeysProblem {
  file: string
  line: number
  message: string
}

/** Result of parsing an authorized_keys file. */
export interface ParsedAuthorizedKeys {
  entries: AuthorizedKey[]
  problems: AuthorizedKeysProblem[]
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

/** Split a line into its content and its `# comment`. */
function splitComment (raw: string): { body: string, comment?: string } {
  const i = raw.indexOf('#')
  if (i < 0) return { body: raw.trim() }
  const comment = raw.slice(i + 1).trim()
  return { body: raw.slice(0, i).trim(), comment: comment === '' ? undefined : comment }
}

/**
 * Parse authorized_keys text: one peer per line, `<peer-id> [key=value …]
 * [# comment]`. Blank and `#` lines are ignored. A line with an invalid peer
 * ID, a malformed or unknown attribute, or a bad `expires` grants nothing
 * (fail closed) and is reported with its line number.
 */
export function parseAuthorizedKeys (text: string, file = 'authorized_keys'): ParsedAuthorizedKeys {
  const entries: AuthorizedKey[] = []
  const problems: AuthorizedKeysProblem[] = []
  const lines = text.split(/\r?\n/)
  lines.forEach((raw, idx) => {
    const line = idx + 1
    const { body, comment } = splitComment(raw)
    if (body === '') return
    const [idText, ...rest] = body.split(/\s+/)
    let peerId: string
    try {
      peerId = parsePeerId(idText).toString()
    } catch (err: any) {
      problems.push({ file, line, message: `invalid peer ID "${idText}"` })
      return
    }
    const attributes: Record<string, string> = {}
    for (const token of rest) {
      const eq = token.indexOf('=')
      if (eq <= 0) {
        problems.push({ file, line, message: `malformed attribute "${token}" (expected key=value)` })
        return
      }
      const key = token.slice(0, eq)
      const value = token.slice(eq + 1)
      if (!(KNOWN_ATTRIBUTES as readonly string[]).includes(key)) {
        problems.push({ file, line, message: `unknown attribute "${key}" (known: ${KNOWN_ATTRIBUTES.join(', ')})` })
        return
      }
      attributes[key] = value
    }
    let expires: Date | undefined
    if (attributes.expires != null) {
      const d = new Date(attributes.expires)
      if (!RFC3339.test(attributes.expires) || Number.isNaN(d.getTime())) {
        problems.push({ file, line, message: `expires="${attributes.expires}" is not an RFC3339 time (e.g. 2027-01-31T00:00:00Z)` })
        return
      }
      expires = d
    }
    entries.push({ peerId, attributes, comment, expires, line })
  })
  return { entries, problems }
}

/** Format problems as `file:line: message` lines. */
export function formatProblems (problems: AuthorizedKeysProblem[]): string[] {
  return problems.map(p => `${p.file}:${p.line}: ${p.message}`)
}

/** Events of {@link AuthorizedKeys}. */
export interface AuthorizedKeysEvents {
  /** The file was reloaded; `revoked` lists peers that were allowed before and are not now. */
  change: [{ revoked: string[] }]
}

/** Init of {@link createAuthorizedKeys}. */
export interface AuthorizedKeysInit {
  /** Path of the authorized_keys file. A missing file grants nothing. */
  file: string
  /**
   * Watch the file and reload on change (polling, so renames by editors and
   * by `peerup auth` are seen).
   *
   * @default true
   */
  watch?: boolean
  /**
   * Poll interval for the watcher (ms).
   *
   * @default 1000
   */
  pollInterval?: number
  /**
   * Throw when the first load fails (unsafe mode, unreadable file). When
   * false, a failed first load is logged and grants nothing until the file
   * is fixed, as a failed reload does (for lists opened while running).
   *
   * @default true
   */
  strict?: boolean
}

/**
 * An allow-list of peer IDs backed by an authorized_keys file, reloaded on
 * change (and on {@link AuthorizedKeys.reload}, which the daemon calls on
 * SIGHUP). It fails closed: a file that cannot be read or has unsafe
 * permissions grants nothing until it is fixed.
 */
export interface AuthorizedKeys extends EventEmitter<AuthorizedKeysEvents> {
  /** Path of the backing file. */
  readonly file: string
  /** Whether `peerId` is granted now (expiry is checked at call time). */
  isAuthorized (peerId: string): boolean
  /** Current granting entries. */
  entries (): AuthorizedKey[]
  /** The comment of `peerId`'s line, if it has one (granting or not: an expired line keeps its comment). */
  comment (peerId: string): string | undefined
  /** Problems found at the last load. */
  problems (): AuthorizedKeysProblem[]
  /** Re-read the file now. */
  reload (): void
  /** Stop watching. */
  close (): void
}

class AuthorizedKeysFile extends EventEmitter<AuthorizedKeysEvents> implements AuthorizedKeys {
  readonly file: string
  private byPeer = new Map<string, AuthorizedKey>()
  private lastProblems: AuthorizedKeysProblem[] = []
  private watcher?: () => void

  constructor (init: AuthorizedKeysInit) {
    super()
    this.file = init.file
    this.load(true, init.strict !== false)
    if (init.watch !== false) {
      this.watcher = () => { this.reload() }
      watchFile(this.file, { interval: init.pollInterval ?? AUTHORIZED_KEYS_POLL_INTERVAL, persistent: false }, this.watcher)
    }
  }

  /** Load the file; on a strict first load, permission errors are thrown to the caller. */
  private load (first: boolean, strict = false): void {
    const before = new Set(this.byPeer.keys())
    const next = new Map<string, AuthorizedKey>()
    try {
      if (existsSync(this.file)) {
        assertPrivateFile(this.file)
        const parsed = parseAuthorizedKeys(readFileSync(this.file, 'utf8'), this.file)
        for (const e of parsed.entries) next.set(e.peerId, e)
        this.lastProblems = parsed.problems
        for (const line of formatProblems(parsed.problems)) log.error('%s (line grants nothing)', line)
      } else {
        this.lastProblems = []
        log('%s does not exist: nobody is authorized', this.file)
      }
    } catch (err: any) {
      if (first && strict) throw err
      log.error('%s %s failed, denying everyone until fixed: %s', first ? 'loading' : 'reloading', this.file, err.message)
      this.lastProblems = [{ file: this.file, line: 0, message: err.message }]
    }
    this.byPeer = next
    const revoked = [...before].filter(p => !next.has(p))
    if (!first) {
      log('reloaded %s: %d peers (%d revoked)', this.file, next.size, revoked.length)
      this.emit('change', { revoked })
    }
  }

  isAuthorized (peerId: string): boolean {
    const e = this.byPeer.get(peerId)
    if (e == null) return false
    if (e.expires != null && e.expires.getTime() <= Date.now()) return false
    return true
  }

  entries (): AuthorizedKey[] { return [...this.byPeer.values()] }
  problems (): AuthorizedKeysProblem[] { return this.lastProblems }
  reload (): void { this.load(false) }

  comment (peerId: string): string | undefined { return this.byPeer.get(peerId)?.comment }

  close (): void {
    // only our own listener: another list (a gateway's, a service's) may watch the same file
    if (this.watcher != null) unwatchFile(this.file, this.watcher)
    this.watcher = undefined
  }
}

/** Open an authorized_keys file (see {@link AuthorizedKeys}). */
export function createAuthorizedKeys (init: AuthorizedKeysInit): AuthorizedKeys {
  return new AuthorizedKeysFile(init)
}

/**
 * Add a peer to an authorized_keys file, keeping
 * every other line and comment as it is; written atomically with mode 0600.
 * Returns false, and changes nothing (not its comment, not its expiry), when
 * the peer is already present: remove it first to change its line.
 */
export function addAuthorizedKey (file: string, peerId: string, options: { comment?: string, expires?: string } = {}): boolean {
  const id = parsePeerId(peerId).toString()
  if (existsSync(file)) assertPrivateFile(file)
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const lines = text === '' ? [] : text.replace(/\n$/, '').split('\n')
  const present = lines.some(l => splitComment(l).body.split(/\s+/)[0] === id)
  if (present) return false
  let line = id
  if (options.expires != null) line += ` expires=${options.expires}`
  if (options.comment != null && options.comment !== '') line += `  # ${options.comment.replace(/[\r\n]/g, ' ')}`
  lines.push(line)
  writeFileAtomic(file, lines.join('\n') + '\n', { mode: 0o600 })
  return true
}

/**
 * Remove a peer from an authorized_keys file, keeping every other line;
 * written atomically. Returns false when the peer was not present.
 */
export function removeAuthorizedKey (file: string, peerId: string): boolean {
  const id = parsePeerId(peerId).toString()
  if (!existsSync(file)) return false
  assertPrivateFile(file)
  const lines = readFileSync(file, 'utf8').replace(/\n$/, '').split('\n')
  const kept = lines.filter(l => splitComment(l).body.split(/\s+/)[0] !== id)
  if (kept.length === lines.length) return false
  writeFileAtomic(file, kept.length === 0 ? '' : kept.join('\n') + '\n', { mode: 0o600 })
  return true
}
