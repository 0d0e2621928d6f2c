/** Bench helpers that spawn tracked processes: cold-start timing and the bench servers. */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { kill, track, type Child } from './procs.js'

const here = dirname(fileURLToPath(import.meta.url))

async function sleep (ms: number): Promise<void> { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Spawn `cmd args`, write `input` to its stdin, time until its first stdout byte (ms), then SIGTERM it. */
export async function coldFirstByte (name: string, cmd: string, args: string[], input: string | undefined, timeoutMs = 20_000): Promise<number> {
  const t0 = performance.now()
  const c = track(name, cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const stdin = c.child.stdin!
  stdin.on('error', () => {})
  if (input != null) stdin.write(input)
  let t = -1
  const result = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${name}: no output within ${timeoutMs} ms; stderr: ${c.stderr().slice(-1000)}`)) }, timeoutMs)
    c.child.stdout!.once('data', () => {
      t = performance.now() - t0
      clearTimeout(timer)
      // done: stop it the way a user's Ctrl-C or a closing ssh would (the kernel closes its sockets)
      c.child.kill('SIGTERM')
      resolve(t)
    })
    c.child.stdout!.on('data', () => {})
    void c.exited.then((code) => {
      clearTimeout(timer)
      if (t < 0) reject(new Error(`${name}: exited (${code}) before any output; stderr: ${c.stderr().slice(-1000)}`))
    })
  })
  try {
    return await result
  } finally {
    await Promise.race([c.exited, sleep(2000)])
    await kill(c)
  }
}

/** Start `bench/servers.ts` (sink, source, echo on one port); resolves with its port once it listens. */
export async function startBenchServers (name = 'servers'): Promise<{ port: number, child: Child, stop: () => Promise<void> }> {
  const servers = track(name, process.execPath, [join(here, 'servers.js')], { stdio: ['pipe', 'pipe', 'pipe'] })
  const port = await new Promise<number>((resolve, reject) => {
    let buf = ''
    const t = setTimeout(() => { reject(new Error(`bench servers did not start: ${servers.stderr()}`)) }, 10_000)
    servers.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      const m = /\{"port":(\d+)\}/.exec(buf)
      if (m != null) { clearTimeout(t); resolve(Number(m[1])) }
    })
  })
  return { port, child: servers, stop: async () => { await kill(servers) } }
}
