import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { files } from '../lib.js'
import { printAuthorizedKeys } from '../authorized-keys-list.js'
import { EXIT, info, out } from '../run.js'
import type { Command } from 'commander'

const defaultFile = async (): Promise<string> => join((await files()).peerupHome(), 'authorized_keys')

/** Attach the keytool commands to `program` (used by `peerup-keytool` and `peerup keytool`). */
export function registerKeytool (program: Command): void {
  program.command('generate <file>')
    .description('create an Ed25519 identity key file (0600)')
    .option('--force', 'overwrite an existing file')
    .action(async (file: string, opts) => {
      const { generateIdentityFile, peerIdOf } = await files()
      const key = await generateIdentityFile(file, { overwrite: opts.force === true })
      out(peerIdOf(key).toString())
    })
  program.command('peerid <file>')
    .description('print the peer ID of a key file')
    .action(async (file: string) => {
      const { loadIdentityFile, peerIdOf } = await files()
      out(peerIdOf(loadIdentityFile(file)).toString())
    })
  program.command('authorize <peer-id>')
    .description('add a peer to an authorized_keys file')
    .option('--comment <text>', 'comment stored after #')
    .option('--expires <rfc3339>', 'expiry time')
    .option('--file <file>', 'authorized_keys file (default $PEERUP_HOME/authorized_keys)')
    .action(async (peerId: string, opts) => {
      const { addAuthorizedKey } = await files()
      const file = opts.file ?? await defaultFile()
      info(addAuthorizedKey(file, peerId, { comment: opts.comment, expires: opts.expires }) ? `added ${peerId} to ${file}` : `${peerId} is already in ${file}`)
    })
  program.command('revoke <peer-id>')
    .description('remove a peer from an authorized_keys file')
    .option('--file <file>', 'authorized_keys file')
    .action(async (peerId: string, opts) => {
      const { removeAuthorizedKey } = await files()
      const file = opts.file ?? await defaultFile()
      info(removeAuthorizedKey(file, peerId) ? `removed ${peerId} from ${file}` : `${peerId} was not in ${file}`)
    })
  program.command('list')
    .description('list authorized peers')
    .option('--file <file>', 'authorized_keys file')
    .option('--json', 'JSON output: [{peerId, comment, expires, line}]')
    .action(async (opts) => {
      printAuthorizedKeys(await files(), opts.file ?? await defaultFile(), opts.json === true)
    })
  program.command('validate')
    .description('check an authorized_keys file; reports every bad line as file:line, exit 1 if any')
    .option('--file <file>', 'authorized_keys file')
    .action(async (opts) => {
      const { assertPrivateFile, formatProblems, parseAuthorizedKeys } = await files()
      const file = opts.file ?? await defaultFile()
      assertPrivateFile(file)
      const parsed = parseAuthorizedKeys(readFileSync(file, 'utf8'), file)
      for (const line of formatProblems(parsed.problems)) out(line)
      info(`${file}: ${parsed.entries.length} valid, ${parsed.problems.length} invalid`)
      if (parsed.problems.length > 0) process.exit(EXIT.RUNTIME)
    })
}
