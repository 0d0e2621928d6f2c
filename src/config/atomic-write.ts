import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, linkSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { AlreadyExistsError } from '../errors.js'

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * File mode of the new file.
   *
   * @default 0o600
   */
  mode?: number
  /**
   * Replace an existing file. When false, an existing file makes the write
   * fail with {@link AlreadyExistsError} and leaves it untouched.
   *
   * @default true
   */
  overwrite?: boolean
}

/**
 * Write a file atomically: a temp file in the same directory is written,
 * fsynced and renamed (or hard-linked, when not overwriting) into place, so a
 * crash never leaves a half-written key or authorized_keys file.
 */
export function writeFileAtomic (path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  const mode = options.mode ?? 0o600
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const fd = openSync(tmp, 'wx', mode)
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data
    let off = 0
    while (off < buf.byteLength) off += writeSync(fd, buf, off)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    if (options.overwrite === false) {
      try {
        linkSync(tmp, path)
      } catch (err: any) {
        if (err.code === 'EEXIST') throw new AlreadyExistsError(`${path} already exists (use --force to overwrite)`)
        throw err
      }
      unlinkSync(tmp)
    } else {
      renameSync(tmp, path)
    }
  } catch (err) {
    try { unlinkSync(tmp) } catch {}
    throw err
  }
}
