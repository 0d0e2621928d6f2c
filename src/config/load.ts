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
}

/** Load and validate a config file. */
export function loadConfig (explicit?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = findConfigFile(explicit, env)
  const config = loadYamlFile(file, configSchema)
  const dir = dirname(file)
  return { config, file, dir, path: (p: string) => isAbsolute(p) ? p : join(dir, p) }
}
