import { existsSync, readFileSync } from 'node:fs'
import { info, out, table } from './run.js'
import type { Files } from './lib.js'

/**
 * `peerup auth list` and `peerup keytool list`: the peers of one
 * authorized_keys file (refused when group/world-accessible), as columns or
 * `--json` `[{peerId, comment, expires, line}]`; each bad line is one stderr
 * line (`file:line: ... (line grants nothing)`). A missing file lists nobody.
 */
export function printAuthorizedKeys (l: Pick<Files, 'assertPrivateFile' | 'parseAuthorizedKeys'>, file: string, json: boolean): void {
  if (existsSync(file)) l.assertPrivateFile(file)
  const parsed = l.parseAuthorizedKeys(existsSync(file) ? readFileSync(file, 'utf8') : '', file)
  for (const p of parsed.problems) info(`${p.file}:${p.line}: ${p.message} (line grants nothing)`)
  if (json) {
    out(JSON.stringify(parsed.entries.map(e => ({ peerId: e.peerId, comment: e.comment ?? null, expires: e.expires?.toISOString() ?? null, line: e.line }))))
    return
  }
  table([['PEER ID', 'EXPIRES', 'COMMENT'], ...parsed.entries.map(e => [e.peerId, e.expires?.toISOString() ?? '-', e.comment ?? ''])])
}
