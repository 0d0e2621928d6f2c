import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { ConfigError } from '../errors.js'
import { configSchema } from './schema.js'
import { loadYamlFile } from './yaml-file.js'
import type { PeerupConfig } from './schema.js'

/** A loaded config with its location; relative paths resolve against `dir`. */
export interface LoadedConfig {
  config: PeerupConfig
  file: string
  dir: string
  /** Resolve a path from the config against the config file's directory. */
  path: (p: string) => string
}

/**
 * The config directory: `$PEERUP_HOME`, else `$XDG_CONFIG_HOME/peerup`, else
 * `~/.config/peerup`.
 */
export function peerupHome (env: NodeJS.ProcessEnv = process.env): string {
  if (env.PEERUP_HOME != null && env.PEERUP_HOME !== '') return resolve(env.PEERUP_HOME)
  if (env.XDG_CONFIG_HOME != null && env.XDG_CONFIG_HOME !== '') return join(env.XDG_CONFIG_HOME, 'peerup')
  return join(homedir(), '.config', 'peerup')
}

/**
 * Find the config file: `--config`, else `./peerup.yaml`, else
 * `$PEERUP_HOME/config.yaml`, else `/etc/peerup/config.yaml`.
 */
export function findConfigFile (explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit != null) return resolve(explicit)
  const candidates = [resolve('peerup.yaml'), join(peerupHome(env), 'config.yaml'), '/etc/peerup/config.yaml']
  const found = candidates.find(c => existsSync(c))
  if (found == null) {
    throw new ConfigError(`no config file found (looked for ${candidates.join(', ')}); run "peerup init" first or pass --config`)
  }
  return found
}

/** Load and validate a config file. */
export function loadConfig (explicit?: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = findConfigFile(explicit, env)
  const config = loadYamlFile(file, configSchema)
  const dir = dirname(file)
  return { config, file, dir, path: (p: string) => isAbsolute(p) ? p : join(dir, p) }
}
