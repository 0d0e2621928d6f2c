import { existsSync, readFileSync } from 'node:fs'
import { files } from '../lib.js'
import { info, out, table } from '../run.js'
import type { Files } from '../lib.js'
import type { LoadedConfig } from '../../src/config/index.js'
import type { Command } from 'commander'

/** The authorized_keys file for the global list or a service (creating the service's own file reference). */
function fileFor ({ ServiceNotFoundError, setServiceAuthorizedKeys }: Files, cfg: LoadedConfig, service?: string, create = false): string {
  if (service == null) return cfg.path(cfg.config.security.authorized_keys_file)
  const svc = cfg.config.services[service]
  if (svc == null) throw new ServiceNotFoundError(`no service named "${service}" in ${cfg.file}`)
  if (svc.authorized_keys != null) return cfg.path(svc.authorized_keys)
  if (!create) return cfg.path(cfg.config.security.authorized_keys_file)
  const rel = `${service}_authorized_keys`
  setServiceAuthorizedKeys(cfg.file, service, rel)
  info(`service ${service} now has its own allow-list: ${rel} (it overrides the global one)`)
  return cfg.path(rel)
}

export function register (program: Command): void {
  const auth = program.command('auth').description('edit authorized_keys (global or per service)')
  auth.command('add <peer-id>')
    .description('allow a peer: globally, or with --service for one service (whose own list then overrides the global one)')
    .option('--comment <text>', 'comment stored after #')
    .option('--expires <rfc3339>', 'expiry, e.g. 2027-01-31T00:00:00Z')
    .option('--service <name>', 'edit the service\'s own allow-list')
    .action(async (peerId: string, opts, cmd) => {
      const l = await files()
      const cfg = l.loadConfig(cmd.optsWithGlobals().config)
      const file = fileFor(l, cfg, opts.service, true)
      const added = l.addAuthorizedKey(file, peerId, { comment: opts.comment, expires: opts.expires })
      info(added ? `added ${peerId} to ${file}` : `${peerId} is already in ${file}`)
    })
  auth.command('remove <peer-id>')
    .description('remove a peer from the global list, or with --service from that service\'s own list')
    .option('--service <name>', 'edit the service\'s own allow-list')
    .action(async (peerId: string, opts, cmd) => {
      const l = await files()
      const cfg = l.loadConfig(cmd.optsWithGlobals().config)
      const file = fileFor(l, cfg, opts.service)
      const removed = l.removeAuthorizedKey(file, peerId)
      info(removed ? `removed ${peerId} from ${file}` : `${peerId} was not in ${file}`)
    })
  auth.command('list')
    .description('list the allowed peers: global, or with --service one service\'s own list')
    .option('--service <name>', 'list the service\'s own allow-list')
    .option('--json', 'JSON output: [{peerId, comment, expires, line}]')
    .action(async (opts, cmd) => {
      const l = await files()
      const cfg = l.loadConfig(cmd.optsWithGlobals().config)
      const file = fileFor(l, cfg, opts.service)
      if (existsSync(file)) l.assertPrivateFile(file)
      const parsed = l.parseAuthorizedKeys(existsSync(file) ? readFileSync(file, 'utf8') : '', file)
      for (const p of parsed.problems) info(`${p.file}:${p.line}: ${p.message} (line grants nothing)`)
      if (opts.json === true) {
        out(JSON.stringify(parsed.entries.map(e => ({ peerId: e.peerId, comment: e.comment ?? null, expires: e.expires?.toISOString() ?? null, line: e.line }))))
        return
      }
      table([['PEER ID', 'EXPIRES', 'COMMENT'], ...parsed.entries.map(e => [e.peerId, e.expires?.toISOString() ?? '-', e.comment ?? ''])])
    })
}
