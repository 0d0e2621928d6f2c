import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { control } from './lib.js'
import type { ControlClient } from '../src/control/index.js'
import type { Command } from 'commander'

/**
 * Ask the daemon of this config, when one runs (as `tailscale ping` asks
 * tailscaled): `{ value }` with what `ask` returned, or undefined when no
 * daemon answers, so the command falls back to a node of its own. The
 * daemon's own errors keep their names (and so their exit codes).
 */
export async function askDaemon<T> (cmd: Command, ask: (client: ControlClient, socketPath: string) => Promise<T>): Promise<{ value: T } | undefined> {
  const { controlSocketPath, createControlClient, findConfigFile } = await control()
  const socketPath = controlSocketPath(dirname(findConfigFile(cmd.optsWithGlobals().config)))
  if (!existsSync(socketPath)) return undefined
  try {
    return { value: await ask(createControlClient({ socketPath }), socketPath) }
  } catch (err: any) {
    if (err?.name === 'DaemonNotRunningError') return undefined
    throw err
  }
}
