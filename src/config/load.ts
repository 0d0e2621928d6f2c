import { dirname, isAbsolute, join } from 'node:path'
import { findConfigFile } from './locate.js'
import { configSchema } from './schema.js'
import { loadYamlFile } from './yaml-file.js'
import type { PeerupConfig } from './schema.js'

export { findConfigFile, peerupHome } from './locate.js'

/** A loaded config with its location; relative paths resolve against `dir`. */
export interface LoadedConfig {
  config: PeerupConfig
  file: string
  dir: string
  /** Resolve a path from the config against the config file's directory. */
  path: (p: string) => string
  /**
   * Why direct UDP is turned off by the environment (`PEERUP_DISABLE_UDP=1`),
   * passed on to `loadUdpTransport({ disabled })` by the node; undefined
   * when the environment leaves it to `paths.udp`.
   */
  udpDisabled?: string
}

/** The environment variable that turns direct UDP (WebRTC) off for every node of a process, read here and nowhere in the library. */
export const DISABLE_UDP_ENV = 'PEERUP_DISABLE_UDP'

/** Why `env` turns direct UDP off, or undefined. */
export function udpDisabledByEnv (env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[DISABLE_UDP_ENV] === '1' ? `turned off by ${DISABLE_UDP_ENV}=1` : undefined
}

/** Load and validate a config file; `env` also decides {@link LoadedConfig.udpDisabled}. */
export function loadConfig (explicit?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = findConfigFile(explicit, env)
  const config = loadYamlFile(file, configSchema)
  const dir = dirname(file)
  const udpDisabled = udpDisabledByEnv(env)
  return { config, file, dir, path: (p: string) => isAbsolute(p) ? p : join(dir, p), ...(udpDisabled != null ? { udpDisabled } : {}) }
}
