import { EXIT, exitCodeFor } from './exit-codes.js'

/** Print one clear line for an error on stderr and exit with its code. */
export function die (err: unknown): never {
  const e = err as Error
  const msg = e?.message ?? String(err)
  process.stderr.write(`peerup: ${msg}\n`)
  if (process.env.DEBUG != null && e?.stack != null) process.stderr.write(e.stack + '\n')
  process.exit(exitCodeFor(err))
}

/** Wrap a command action: errors become one stderr line and an exit code. */
export function action<A extends unknown[]> (fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args)
    } catch (err) {
      die(err)
    }
  }
}

/** Write a line to stdout (data) . */
export function out (line: string): void {
  process.stdout.write(line + '\n')
}

/** Write a line to stderr (diagnostics). */
export function info (line: string): void {
  process.stderr.write(line + '\n')
}

/** Print rows as aligned columns. */
export function table (rows: string[][]): void {
  if (rows.length === 0) return
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length)))
  for (const r of rows) out(r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i])).join('  ').trimEnd())
}

export { EXIT }
