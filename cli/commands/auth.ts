import { existsSync, readFileSync } from 'node:fs'
import { files } from '../lib.js'
import { printAuthorizedKeys } from '../authorized-keys-list.js'
import { info } from '../run.js'
import type { Files } from '../lib.js'
import type { LoadedConfig } from '../../src/config/index.js'
import type { Command } from 'commander'

/**
 * The authorized_keys file for the global list or a service. With `create`,
 * a service without its own list gets one: `commit()` names it in the
 * config, to be called once the file holds its first peer (a running daemon
 * then switches the service to a complete list, never to an empty one).
 */
function fileFor ({ ServiceNotFoundError, setServiceAuthorizedKeys }: Files, cfg: LoadedConfig, service?: string, create = false): { file: string, commit: () => void } {
  const none = (): void => {}
  if (service == null) return { file: cfg.path(cfg.config.security.authorized_keys_file), commit: none }
  const svc = cfg.config.services[service]
  if (svc == null) throw new ServiceNotFoundError(`no service named "${service}" in ${cfg.file}`)
  if (svc.authorized_keys != null) return { file: cfg.path(svc.authorized_keys), commit: none }
  if (!create) return { file: cfg.path(cfg.config.security.authorized_keys_file), commit: none }
  const rel = `${service}_authorized_keys`
  return {
    file: cfg.path(rel),
    commit: () => {
      setServiceAuthorizedKeys(cfg.file, service, rel)
      info(`service ${service} now has its own allow-list: ${rel} (it overrides the global one)`)
    }
  }
}

/** Services whose own allow-list has `peerId` (its file as the config names it). */
function servicesListing (l: Files, cfg: LoadedConfig, peerId: string): Array<{ service: string, file: string }> {
  const id = l.parsePeerId(peerId).toString()
  return Object.entries(cfg.config.services).flatMap(([service, svc]) => {
    if (svc.authorized_keys == null) return []
    const file = cfg.path(svc.authorized_keys)
    if (!existsSync(file)) return []
    const { entries } = l.parseAuthorizedKeys(readFileSync(file, 'utf8'), file)
    return entries.some(e => e.peerId === id) ? [{ service, file: svc.authorized_keys }] : []
  })
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
      const { file, commit } = fileFor(l, cfg, opts.service, true)
      const added = l.addAuthorizedKey(file, peerId, { comment: opts.comment, expires: opts.expires })
      commit()
      info(added ? `added ${peerId} to ${file}` : `${peerId} is already in ${file}`)
    })
  auth.command('remove <peer-id>')
    .description('remove a peer from the global list, or with --service from that service\'s own list; exit 4 when the list did not have it but a service\'s own list does (use --service)')
    .option('--service <name>', 'edit the service\'s own allow-list')
    .action(async (peerId: string, opts, cmd) => {
      const l = await files()
      const cfg = l.loadConfig(cmd.optsWithGlobals().config)
      const { file } = fileFor(l, cfg, opts.service)
      if (l.removeAuthorizedKey(file, peerId)) { info(`removed ${peerId} from ${file}`); return }
      // still let in by a service's own list: nothing was revoked, so say where it is (exit 4)
      const elsewhere = opts.service == null ? servicesListing(l, cfg, peerId) : []
      if (elsewhere.length > 0) {
        const lists = elsewhere.map(s => `${s.service} (${s.file})`).join(', ')
        throw new l.PeerNotListedError(`${peerId} is not in ${file}; it is on the allow-list${elsewhere.length > 1 ? 's of services' : ' of service'} ${lists}: run: ${elsewhere.map(s => `peerup auth remove ${peerId} --service ${s.service}`).join('; ')}`)
      }
      info(`${peerId} was not in ${file}`)
    })
  auth.command('list')
    .description('list the allowed peers: global, or with --service one service\'s own list')
    .option('--service <name>', 'list the service\'s own allow-list')
    .option('--json', 'JSON output: [{peerId, comment, expires, line}]')
    .action(async (opts, cmd) => {
      const l = await files()
      const cfg = l.loadConfig(cmd.optsWithGlobals().config)
      printAuthorizedKeys(l, fileFor(l, cfg, opts.service).file, opts.json === true)
    })
}
