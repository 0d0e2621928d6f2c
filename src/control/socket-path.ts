import { join } from 'node:path'
import { CONTROL_SOCKET_NAME } from '../constants.js'

/** Unix socket paths are limited to 107 bytes on Linux (`sun_path`). */
export const MAX_SOCKET_PATH = 107

/** The control socket of the config whose file lives in `configDir`. */
export function controlSocketPath (configDir: string): string {
  return join(configDir, CONTROL_SOCKET_NAME)
}
