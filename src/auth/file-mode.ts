import { statSync } from 'node:fs'
import { InsecurePermissionsError } from '../errors.js'

/**
 * Refuse a secret-bearing file (private key, authorized_keys) that group or
 * others may access, as OpenSSH does. Throws {@link InsecurePermissionsError}.
 * Missing files are the caller's business (stat throws ENOENT).
 */
export function assertPrivateFile (path: string): void {
  const st = statSync(path)
  if ((st.mode & 0o077) !== 0) {
    throw new InsecurePermissionsError(path, st.mode)
  }
}
