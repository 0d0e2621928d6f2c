/**
 * Where the config lives. Kept free of zod and YAML so that fast CLI paths
 * (`peerup status`, daemon-backed `peerup nc`) can find the config directory
 * without parsing anything.
 */
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { ConfigError } from '../errors.js'

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
