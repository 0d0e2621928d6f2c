import { Command, CommanderError } from 'commander'
import { EXIT_HELP } from './exit-codes.js'
import { die, EXIT } from './run.js'

/** Make commander report usage errors with exit code 2 and wrap actions. */
export function finishProgram (program: Command): Command {
  program.exitOverride()
  program.configureOutput({ writeOut: (s) => { process.stdout.write(s) }, writeErr: (s) => { process.stderr.write(s) } })
  program.addHelpText('after', EXIT_HELP)
  const wrap = (cmd: Command): void => {
    cmd.exitOverride()
    const fn = (cmd as any)._actionHandler
    if (fn != null) {
      (cmd as any)._actionHandler = async (args: unknown[]) => {
        try { return await fn(args) } catch (err) { die(err) }
      }
    }
    cmd.commands.forEach(wrap)
  }
  program.commands.forEach(wrap)
  return program
}

/** Parse argv; commander errors become exit 2 (help/version exit 0). */
export async function runProgram (program: Command, argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(EXIT.OK)
      process.exit(EXIT.USAGE)
    }
    die(err)
  }
}
