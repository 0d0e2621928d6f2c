/**
 * At most one line per key (a peer and a service, say) per `intervalMs`:
 * the first at once; later ones in the window are counted, and at the end
 * of the window one line reports the last of them with the count (and opens
 * the next window). Timers are unref'd: they never keep the process alive.
 */
export function rateLimited (write: (line: string) => void, intervalMs: number): (key: string, line: string) => void {
  const windows = new Map<string, { suppressed: number, last: string }>()
  const window = intervalMs >= 1000 ? `${Math.round(intervalMs / 1000)} s` : `${intervalMs} ms`
  const open = (key: string): void => {
    const w = { suppressed: 0, last: '' }
    windows.set(key, w)
    setTimeout(() => {
      if (w.suppressed === 0) { windows.delete(key); return }
      write(`${w.last} (${w.suppressed} more in the last ${window})`)
      open(key)
    }, intervalMs).unref()
  }
  return (key, line) => {
    const w = windows.get(key)
    if (w != null) { w.suppressed++; w.last = line; return }
    write(line)
    open(key)
  }
}
