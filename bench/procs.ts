/** Every non-peerup child process the bench starts, so all can be killed on exit or error. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { processTree } from './procstat.js'

export interface Child {
  name: string
  child: ChildProcess
  pid: number
  exited: Promise<number | string>
  stderr: () => string
}

const children = new Set<Child>()

/** Spawn a tracked child (stdout/stderr piped unless told otherwise). */
export function track (name: string, cmd: string, args: string[], options: SpawnOptions = {}): Child {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  // keep the first and the last 32 KiB of stderr (ssh -v is chatty)
  let head = ''
  let tail = ''
  child.stderr?.on('data', (d: Buffer) => {
    if (head.length < 32 * 1024) head += d.toString()
    else tail = (tail + d.toString()).slice(-32 * 1024)
  })
  child.on('error', (e) => { tail += `spawn error: ${e.message}\n` })
  const exited = new Promise<number | string>(resolve => child.on('exit', (c, s) => { resolve(c ?? s ?? -1) }))
  const c: Child = { name, child, pid: child.pid ?? -1, exited, stderr: () => tail === '' ? head : `${head}\n…\n${tail}` }
  children.add(c)
  void exited.then(() => { children.delete(c) })
  return c
}

/** Kill one tracked child and all its descendants (by pid), and wait (bounded). */
export async function kill (c: Child, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (c.pid > 0) {
    const tree = processTree(c.pid).reverse()
    for (const p of tree) { try { process.kill(p, signal) } catch {} }
  }
  await Promise.race([c.exited, new Promise(resolve => setTimeout(resolve, 3000))])
}

/** Kill everything still tracked. */
export async function killAll (): Promise<void> {
  await Promise.all([...children].map(async c => { await kill(c) }))
}

/** Synchronous last resort (process 'exit' handler). */
export function killAllSync (): void {
  for (const c of children) {
    if (c.pid <= 0) continue
    for (const p of processTree(c.pid).reverse()) { try { process.kill(p, 'SIGKILL') } catch {} }
  }
}
