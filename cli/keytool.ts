#!/usr/bin/env node
import { Command } from 'commander'
import { registerKeytool } from './commands/keytool.js'
import { finishProgram, runProgram } from './program.js'

const program = new Command('peerup-keytool').description('manage peerup identity keys and authorized_keys files')
registerKeytool(program)
await runProgram(finishProgram(program), process.argv)
