/**
 * DNS section of the bench: queries per second and p99 of the DNS gateway
 * (`peerup gateway --dns`) against dnsmasq answering the same name from a
 * hosts file, both on 127.0.0.1, both driven by the same load generator
 * (bench/dns-load.ts) in its own process.
 */
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createSocket } from 'node:dgram'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, type Harness } from '../test/fixtures/mesh.js'
import { kill, track } from './procs.js'
import { cpuSeconds } from './procstat.js'
import { which } from './ssh.js'

const here = dirname(fileURLToPath(import.meta.url))

/** One load run. */
export interface DnsLoad {
  sent: number
  answered: number
  errors: number
  timeouts: number
  qps: number
  /** Milliseconds. */
  p50: number
  /** Milliseconds. */
  p99: number
  /** CPU milliseconds the server spent per 1000 answered queries. */
  cpuMsPerKQuery: number | null
}

/** Result of {@link measureDns}. */
export interface DnsResult {
  name: string
  seconds: number
  window: number
  gateway: DnsLoad
  dnsmasq: DnsLoad | null
  dnsmasqVersion: string | null
  /** gateway QPS / dnsmasq QPS. */
  ratioQps: number | null
  note?: string
}

async function load (port: number, name: string, seconds: number, window: number, serverPid: number): Promise<DnsLoad> {
  const c0 = cpuSeconds(serverPid)
  const gen = track('dns-load', process.execPath, [join(here, 'dns-load.js'), String(port), name, String(seconds), String(window)])
  let out = ''
  gen.child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => { void kill(gen) }, (seconds + 15) * 1000)
  await gen.exited
  clearTimeout(timer)
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as DnsLoad
  if (typeof r.qps !== 'number') throw new Error(`dns load generator failed: ${gen.stderr()}`)
  const cpu = cpuSeconds(serverPid) - c0
  r.cpuMsPerKQuery = r.answered > 0 ? Math.round(cpu * 1000 / (r.answered / 1000) * 100) / 100 : null
  return r
}

/** One A query (bounded); the first answer's address, or null. */
async function lookup (port: number, name: string, timeoutMs = 10_000): Promise<string | null> {
  const sock = createSocket('udp4')
  const labels = name.split('.').map(l => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]))
  const q = Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])])
  return await new Promise(resolve => {
    const timer = setTimeout(() => { sock.close(); resolve(null) }, timeoutMs)
    sock.on('message', (m) => {
      clearTimeout(timer)
      sock.close()
      // the answer's RDATA is the last 4 bytes of a single-A response
      resolve(m.readUInt16BE(6) > 0 ? [...m.subarray(m.length - 4)].join('.') : null)
    })
    sock.send(q, port, '127.0.0.1')
  })
}

/**
 * Load the running DNS gateway (`peerup gateway --dns`) and dnsmasq (if
 * installed, started here) with `window` queries in flight for `seconds` each.
 */
export async function measureDns (options: { h: Harness, gateway: { port: number, pid: number }, name: string, seconds: number, window: number, log: (s: string) => void }): Promise<DnsResult> {
  const { h, name, seconds, window, log } = options
  const port = options.gateway.port
  {
    const vip = await lookup(port, name)
    if (vip == null) throw new Error(`the DNS gateway did not answer ${name}`)
    const gw = await load(port, name, seconds, window, options.gateway.pid)
    log(`dns: gateway ${gw.qps} q/s, p50 ${gw.p50} ms, p99 ${gw.p99} ms (${gw.answered} answered, ${gw.errors} errors, ${gw.timeouts} timeouts)`)
    const bin = which('dnsmasq')
    if (bin == null) return { name, seconds, window, gateway: gw, dnsmasq: null, dnsmasqVersion: null, ratioQps: null, note: 'dnsmasq not installed (apt-get install dnsmasq-base)' }
    const version = /Dnsmasq version (\S+)/.exec(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[1] ?? 'unknown'
    const hosts = join(h.root, 'dnsmasq.hosts')
    writeFileSync(hosts, `${vip} ${name}\n`)
    const mport = await freePort()
    const dm = track('dnsmasq', bin, ['--keep-in-foreground', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`, `--port=${mport}`,
      '--listen-address=127.0.0.1', '--bind-interfaces', '--pid-file=', '--user=root', '--cache-size=1000', '--log-facility=-'])
    try {
      const deadline = Date.now() + 10_000
      while (await lookup(mport, name, 500) == null) {
        if (Date.now() > deadline) throw new Error(`dnsmasq did not answer: ${dm.stderr()}`)
      }
      const m = await load(mport, name, seconds, window, dm.pid)
      log(`dns: dnsmasq ${version} ${m.qps} q/s, p50 ${m.p50} ms, p99 ${m.p99} ms`)
      return { name, seconds, window, gateway: gw, dnsmasq: m, dnsmasqVersion: version, ratioQps: m.qps > 0 ? Math.round(gw.qps / m.qps * 1000) / 1000 : null }
    } finally {
      await kill(dm)
    }
  }
}
