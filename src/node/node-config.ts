/**
 * A node's config as a library user gives it: a loaded file
 * (`loadConfig`), or a plain object in the config file's shape that never
 * touched the disk (`configFromObject`).
 */
import { isAbsolute, join, resolve } from 'node:path'
import { configSchema } from '../config/schema.js'
import { ConfigError } from '../errors.js'
import type { LoadedConfig } from '../config/load.js'
import type { z } from 'zod'

/** A config in the shape of `config.yaml`, before defaults (what `configSchema` accepts). */
export type PeerupConfigInput = z.input<typeof configSchema>

/** Options of {@link configFromObject}. */
export interface ConfigFromObjectOptions {
  /**
   * Directory that relative paths in the config (key file, names file,
   * allow-list files) resolve against.
   *
   * @default process.cwd()
   */
  dir?: string
}

/**
 * Validate a config object and give it the shape of a loaded config. Its
 * `file` is `''`: no file is watched for changes, the name cache stays in
 * memory, and a bad key is reported as `config object: <key path>:
 * <problem>` ({@link ConfigError}).
 */
export function configFromObject (input: PeerupConfigInput, options: ConfigFromObjectOptions = {}): LoadedConfig {
  const result = configSchema.safeParse(input)
  if (!result.success) {
    // a misspelt key also makes the key it was meant to be "missing": report the typo, it is the cause
    const issue = result.error.issues.find(i => i.code === 'unrecognized_keys') ?? result.error.issues[0]
    const path = [...issue.path, ...(issue.code === 'unrecognized_keys' ? [(issue as any).keys[0]] : [])].map(String).join('.')
    throw new ConfigError(`config object: ${path === '' ? '' : `${path}: `}${issue.message}`, { keyPath: path })
  }
  const dir = resolve(options.dir ?? process.cwd())
  return { config: result.data, file: '', dir, path: (p: string) => isAbsolute(p) ? p : join(dir, p) }
}

/** Whether `c` is a loaded config rather than a config object. */
export function isLoadedConfig (c: LoadedConfig | PeerupConfigInput): c is LoadedConfig {
  return typeof (c as LoadedConfig).path === 'function' && typeof (c as LoadedConfig).config === 'object'
}
