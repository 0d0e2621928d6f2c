#!/usr/bin/env node
// Only commander and the command definitions load here; each command loads the
// library (and libp2p) inside its action, so --version, status and
// daemon-backed nc start fast.
import { Command } from 'commander'
import { register as auth } from './commands/auth.js'
import { register as connect } from './commands/connect.js'
import { register as daemon } from './commands/daemon.js'
import { register as gateway } from './commands/gateway.js'
import { register as init } from './commands/init.js'
import { registerKeytool } from './commands/keytool.js'
import { register as names } from './commands/names.js'
import { register as relay } from './commands/relay.js'
import { register as resolve } from './commands/resolve.js'
import { register as service } from './commands/service.js'
import { register as status } from './commands/status.js'
import { register as whoami } from './commands/whoami.js'
import { finishProgram, runProgram } from './program.js'
import { dumpState } from '../src/debug-state.js'

// SIGUSR2: print live tunnels and circuits (buffers, pause flags) to stderr
process.on('SIGUSR2', () => { process.stderr.write(JSON.stringify(dumpState(), null, 1) + '\n') })

const program = new Command('peerup')
  .description('reach your own machines behind CGNAT and firewalls over a libp2p mesh')
  .version('0.1.0')
  .option('--config <file>', 'config file (default: ./peerup.yaml, $PEERUP_HOME/config.yaml, /etc/peerup/config.yaml)')
for (const r of [init, whoami, relay, daemon, gateway, status, auth, service, names, connect, resolve]) r(program)
registerKeytool(program.command('keytool').description('key and authorized_keys tool (same as peerup-keytool)'))
await runProgram(finishProgram(program), process.argv)
