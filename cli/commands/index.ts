import { register as auth } from './auth.js'
import { register as connect } from './connect.js'
import { register as daemon } from './daemon.js'
import { register as gateway } from './gateway.js'
import { register as init } from './init.js'
import { registerKeytool } from './keytool.js'
import { register as names } from './names.js'
import { register as relay } from './relay.js'
import { register as resolve } from './resolve.js'
import { register as service } from './service.js'
import { register as status } from './status.js'
import { register as whoami } from './whoami.js'
import type { Command } from 'commander'

/**
 * Define every `peerup` command on `program`. Only definitions (names,
 * options, help) load here: each action imports its code when it runs.
 */
export function registerAll (program: Command): void {
  for (const r of [init, whoami, relay, daemon, gateway, status, auth, service, names, connect, resolve]) r(program)
  registerKeytool(program.command('keytool').description('key and authorized_keys tool (same as peerup-keytool)'))
}
