#!/usr/bin/env node
// The compile cache first (everything after it is imported dynamically, so it
// benefits); then only commander and the command definitions load. Each
// command loads what it needs inside its action: file commands the light
// `peerup/config` half, node commands the library with libp2p; --version,
// status and daemon-backed nc load neither.
import { enableCompileCache } from './compile-cache.js'
enableCompileCache()

const { Command } = await import('commander')
const { registerAll } = await import('./commands/index.js')
const { finishProgram, runProgram } = await import('./program.js')
const { dumpState } = await import('../src/metrics/debug-state.js')

// SIGUSR2: print live tunnels and circuits (buffers, pause flags) to stderr
process.on('SIGUSR2', () => { process.stderr.write(JSON.stringify(dumpState(), null, 1) + '\n') })

const program = new Command('peerup')
  .description('reach your own machines behind CGNAT and firewalls over a libp2p mesh')
  .version('0.1.0')
  .option('--config <file>', 'config file (default: ./peerup.yaml, $PEERUP_HOME/config.yaml, /etc/peerup/config.yaml)')
registerAll(program)
await runProgram(finishProgram(program), process.argv)
