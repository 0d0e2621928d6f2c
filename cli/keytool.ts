#!/usr/bin/env node
// as cli/peerup.ts: the compile cache first, everything else after it
import { enableCompileCache } from './compile-cache.js'
enableCompileCache()

const { Command } = await import('commander')
const { registerKeytool } = await import('./commands/keytool.js')
const { finishProgram, runProgram } = await import('./program.js')

const program = new Command('peerup-keytool').description('manage peerup identity keys and authorized_keys files')
registerKeytool(program)
await runProgram(finishProgram(program), process.argv)
