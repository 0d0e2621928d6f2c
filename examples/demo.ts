/**
 * `npm start`: a self-contained local demo mesh. A relay, a home node and a
 * client run as separate `peerup` processes on loopback, each with its own
 * temp config dir. The home node exposes a small HTTP service; the client
 * fetches a file from it through the relay with `peerup nc`, checks the
 * sha256, pings the home and prints peer IDs, path, bytes and timings.
 */
import '../src/polyfill.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { addAuthorizedKey, addNameToFile, addServiceToConfig, editYamlFile, initConfigDir } from '../src/index.js'

const PEERUP = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/peerup.js')
const root = mkdtempSync(join(tmpdir(), 'peerup-demo-'))
const children: ChildProcess[] = []
const t0 = performance.now()
const ms = (t: number): string => `${(performance.now() - t).toFixed(0)} ms`
const say = (s: string): void => { process.stdout.write(s + '\n') }

function cleanup (): void {
  for (const c of children) if (c.exitCode == null) c.kill('SIGKILL')
  rmSync(root, { recursive: true, force: true })
}

/** Start a long-running peerup process and wait for its "ready" line. */
async function startPeerup (args: string[], readyRe = /^ready$/m, timeoutMs = 10_000): Promise<{ child: ChildProcess, out: () => string }> {
  const child = spawn(process.execPath, [PEERUP, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`peerup ${args.join(' ')} not ready after ${timeoutMs} ms:\n${out}`)) }, timeoutMs)
    const check = (): void => { if (readyRe.test(out)) { clearTimeout(timer); resolve() } }
    child.stdout!.on('data', check)
    child.stderr!.on('data', check)
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`peerup ${args.join(' ')} exited with ${code}:\n${out}`)) })
  })
  return { child, out: () => out }
}

/** Run a peerup command to completion. */
async function runPeerup (args: string[], input?: string): Promise<{ code: number, stdout: Buffer, stderr: string, firstByteMs?: number }> {
  const start = performance.now()
  const child = spawn(process.execPath, [PEERUP, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
  children.push(child)
  const out: Buffer[] = []
  let err = ''
  let firstByteMs: number | undefined
  child.stdout.on('data', (d: Buffer) => { firstByteMs ??= performance.now() - start; out.push(d) })
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  child.stdin.end(input)
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const code = await new Promise<number>(resolve => child.on('exit', c => { resolve(c ?? 1) }))
  clearTimeout(timer)
  return { code, stdout: Buffer.concat(out), stderr: err, firstByteMs }
}

async function main (): Promise<void> {
  say('peerup demo: relay, home and client as separate processes on 127.0.0.1\n')

  // a small web service on the "home machine"
  const file = randomBytes(8 * 1024 * 1024)
  const fileHash = createHash('sha256').update(file).digest('hex')
  const web = createServer((req, res) => {
    if (req.url === '/file') { res.writeHead(200, { 'content-length': file.length }); res.end(file) } else { res.writeHead(404); res.end() }
  })
  await new Promise<void>(resolve => web.listen(0, '127.0.0.1', () => { resolve() }))
  const webPort = (web.address() as any).port as number

  // config dirs, as `peerup init` writes them
  const relay = await initConfigDir({ dir: join(root, 'relay'), role: 'relay', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const home = await initConfigDir({ dir: join(root, 'home'), role: 'home', network: 'demo', name: 'home', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const client = await initConfigDir({ dir: join(root, 'laptop'), role: 'client', network: 'demo', name: 'laptop', listen: ['/ip4/127.0.0.1/tcp/0'] })
  for (const c of [relay, home, client]) editYamlFile(c.configFile, doc => { doc.setIn(['daemon', 'allow_hosts'], doc.createNode(['127.0.0.1'])) })
  say(`relay   ${relay.peerId}`)
  say(`home    ${home.peerId}`)
  say(`laptop  ${client.peerId}\n`)

  // trust: relay members, home allows the laptop, laptop trusts the home
  addAuthorizedKey(relay.authorizedKeysFile, home.peerId, { comment: 'home' })
  addAuthorizedKey(relay.authorizedKeysFile, client.peerId, { comment: 'laptop' })
  addAuthorizedKey(home.authorizedKeysFile, client.peerId, { comment: 'laptop' })
  addAuthorizedKey(client.authorizedKeysFile, home.peerId, { comment: 'home' })
  addServiceToConfig(home.configFile, 'web', `127.0.0.1:${webPort}`)

  let t = performance.now()
  const relayProc = await startPeerup(['--config', relay.configFile, 'relay', 'serve'])
  const relayAddr = relayProc.out().split('\n').find(l => l.startsWith('/ip4/127.0.0.1/'))!
  say(`relay up in ${ms(t)}: ${relayAddr}`)
  for (const c of [home, client]) editYamlFile(c.configFile, doc => { doc.set('relays', doc.createNode([relayAddr])) })
  addNameToFile(client.namesFile, 'home.demo', home.peerId)

  t = performance.now()
  await startPeerup(['--config', home.configFile, 'daemon'], /reserved on relay/)
  say(`home up and reserved on the relay in ${ms(t)} (service web -> 127.0.0.1:${webPort})\n`)

  const ping = await runPeerup(['--config', client.configFile, 'ping', 'home.demo', '-c', '3', '--json'])
  if (ping.code !== 0) throw new Error(`ping failed: ${ping.stderr}`)
  const p = JSON.parse(ping.stdout.toString())
  say(`ping home.demo: path=${p.path}${p.relay != null ? ` via ${p.relay}` : ''} rtt=${p.rtts.map((r: number) => r.toFixed(1)).join('/')} ms`)

  t = performance.now()
  const req = 'GET /file HTTP/1.1\r\nHost: home.demo\r\nConnection: close\r\n\r\n'
  const got = await runPeerup(['--config', client.configFile, 'nc', 'home.demo', 'web', '--path', 'relay'], req)
  const total = performance.now() - t
  if (got.code !== 0) throw new Error(`nc failed: ${got.stderr}`)
  const split = got.stdout.indexOf('\r\n\r\n')
  const body = got.stdout.subarray(split + 4)
  const ok = createHash('sha256').update(body).digest('hex') === fileHash
  say(`GET http://home.demo/file via peerup nc (relayed): ${body.length} bytes in ${total.toFixed(0)} ms ` +
    `(${(body.length / 1048576 / (total / 1000)).toFixed(1)} MiB/s incl. process start), first byte after ${got.firstByteMs?.toFixed(0)} ms, sha256 ${ok ? 'matches' : 'MISMATCH'}`)
  web.close()
  if (!ok) throw new Error('sha256 mismatch')
  say(`\ndemo finished in ${ms(t0)}. Try it for real: see README.md ("Set up a relay, a home node and a laptop").`)
}

main().then(() => { cleanup(); process.exit(0) }, (err) => {
  process.stderr.write(`demo failed: ${err.message}\n`)
  cleanup()
  process.exit(1)
})
