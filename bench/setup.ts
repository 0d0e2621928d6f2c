/**
 * The bench's setup: the echo/sink servers, a relay + home + client mesh
 * (real CLI processes), `proxy --path direct|relay` forwarders, the ssh -L
 * and socat anchors where installed, and one `peerup gateway` (SOCKS5 and
 * DNS), with the processes whose CPU and memory each path is charged.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startMesh, type Harness, type Mesh, type NodeDir, type Proc } from '../test/fixtures/mesh.js'
import { addAuthorizedKey, editYamlFile } from '../src/index.js'
import { startBenchServers } from './spawn.js'
import { startSocat, startSshForward, startSshd, sshAvailable, which, type Sshd } from './ssh.js'
import type { Dest } from './client.js'
import type { Child } from './procs.js'
import type { Tracked } from './procstat.js'
import type { BenchOptions, BenchResult, PathInfo } from './result.js'

const here = dirname(fileURLToPath(import.meta.url))

/** Everything the measuring sections use. */
export interface BenchSetup {
  /** The echo/sink servers' port (the raw TCP path). */
  servicePort: number
  servers: Child
  mesh: Mesh
  /** A member with no names file entries (the resolve rows of the cold-start section). */
  resolver: NodeDir
  /** The `peerup gateway` process (SOCKS5 path and DNS section). */
  gateway: Proc
  dnsPort: number
  sshd?: Sshd
  /** Where each path id is reached. */
  ports: Record<string, Dest>
  /** The processes on each path, charged its CPU. */
  tracked: Record<string, Tracked[]>
  /** Processes whose memory is reported: name → tracked. */
  memOf: Record<string, Tracked>
  paths: PathInfo[]
}

/** The pid of a harness process (-1 when it has none). */
export function pid (p: Proc): number {
  return p.child.pid ?? -1
}

/** Start every process of the bench; sets `result.openssh`, `sshDefaultCipher` and `socat`. */
export async function setupBench (h: Harness, options: BenchOptions, result: Partial<BenchResult>, log: (line: string) => void): Promise<BenchSetup> {
    const { port: servicePort, child: servers } = await startBenchServers()

    if (options.profileDir != null) {
      mkdirSync(options.profileDir, { recursive: true })
      process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(here, 'cpu-profile.js')}`.trim()
      process.env.PEERUP_BENCH_PROFILE_DIR = resolve(options.profileDir)
    }
    const mesh = await startMesh(h, { services: { bench: servicePort } })
    // a member with no names file entries, for the resolve rows of the cold-start section
    const resolver = await h.initNode('resolver', 'client')
    addAuthorizedKey(join(mesh.relay.dir, 'authorized_keys'), resolver.peerId, { comment: 'resolver' })
    editYamlFile(resolver.config, doc => { doc.set('relays', doc.createNode([mesh.relayAddr])) })
    const proxyPorts = { direct: await freePort(), relay: await freePort() }
    const proxies: Record<'direct' | 'relay', Proc> = {
      direct: h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'bench', String(proxyPorts.direct), '--path', 'direct']),
      relay: h.start(['--config', mesh.client.config, 'proxy', 'home.grewal', 'bench', String(proxyPorts.relay), '--path', 'relay'])
    }
    const pathDesc: Record<string, string> = {}
    for (const k of ['direct', 'relay'] as const) {
      const m = await proxies[k].waitFor(/proxy \S+ -> home.grewal bench \((.*)\)/, 30_000)
      await proxies[k].waitFor(/^ready$/m)
      pathDesc[k] = m[1]
    }
    if (options.profileDir != null) { delete process.env.NODE_OPTIONS; delete process.env.PEERUP_BENCH_PROFILE_DIR }
    if (!/^direct$/.test(pathDesc.direct)) throw new Error(`direct proxy is on "${pathDesc.direct}"`)
    if (!/^relayed/.test(pathDesc.relay)) throw new Error(`relay proxy is on "${pathDesc.relay}"`)
    log(`mesh up: relay pid ${mesh.relayProc.child.pid}, home pid ${mesh.homeProc.child.pid}, proxies direct :${proxyPorts.direct} (${pathDesc.direct}) relay :${proxyPorts.relay} (${pathDesc.relay})`)

    const ports: Record<string, Dest> = { raw: servicePort, direct: proxyPorts.direct, relay: proxyPorts.relay }
    const tracked: Record<string, Tracked[]> = {
      raw: [],
      direct: [{ role: 'proxy', pid: pid(proxies.direct) }, { role: 'home', pid: pid(mesh.homeProc) }],
      relay: [{ role: 'proxy', pid: pid(proxies.relay) }, { role: 'relay', pid: pid(mesh.relayProc) }, { role: 'home', pid: pid(mesh.homeProc) }]
    }
    // processes whose memory is reported: name → tracked
    const memOf: Record<string, Tracked> = {
      relay: { role: 'relay', pid: pid(mesh.relayProc) },
      home: { role: 'home', pid: pid(mesh.homeProc) },
      'proxy (direct)': { role: 'proxy', pid: pid(proxies.direct) },
      'proxy (relay)': { role: 'proxy', pid: pid(proxies.relay) },
      'bench servers': { role: 'server', pid: servers.pid }
    }

    const paths: PathInfo[] = [{ id: 'raw', label: 'raw TCP (node → node)', short: 'raw TCP', kind: 'anchor', available: true, roles: [] }]
    let sshd: Sshd | undefined
    if (sshAvailable()) {
      try {
        const dir = join(h.root, 'ssh')
        sshd = await startSshd(dir, await freePort())
        const sshdAes = await startSshd(dir, await freePort())
        result.openssh = sshd.version
        const def = await startSshForward(sshd, await freePort(), servicePort)
        const aes = await startSshForward(sshdAes, await freePort(), servicePort, 'aes128-gcm@openssh.com')
        result.sshDefaultCipher = def.cipher
        ports.ssh = def.localPort
        ports['ssh-aes'] = aes.localPort
        tracked.ssh = [{ role: 'ssh', pid: def.proc.pid }, { role: 'sshd', pid: sshd.proc.pid, tree: true }]
        tracked['ssh-aes'] = [{ role: 'ssh', pid: aes.proc.pid }, { role: 'sshd', pid: sshdAes.proc.pid, tree: true }]
        memOf['ssh (default)'] = { role: 'ssh', pid: def.proc.pid }
        memOf['sshd (default, all processes)'] = { role: 'sshd', pid: sshd.proc.pid, tree: true }
        memOf['ssh (aes128-gcm)'] = { role: 'ssh', pid: aes.proc.pid }
        memOf['sshd (aes128-gcm, all processes)'] = { role: 'sshd', pid: sshdAes.proc.pid, tree: true }
        paths.push({ id: 'ssh', label: `ssh -L (${def.cipher}, default)`, short: `ssh -L ${def.cipher.split('@')[0]} (default)`, kind: 'anchor', available: true, roles: ['ssh', 'sshd'] })
        paths.push({ id: 'ssh-aes', label: `ssh -L (${aes.cipher})`, short: `ssh -L ${aes.cipher.split('@')[0]}`, kind: 'anchor', available: true, roles: ['ssh', 'sshd'] })
        log(`ssh anchors: ${sshd.version}; default cipher ${def.cipher}, second ${aes.cipher}`)
      } catch (err) {
        log(`ssh anchors unavailable: ${(err as Error).message}`)
        paths.push({ id: 'ssh', label: 'ssh -L (default cipher)', kind: 'anchor', available: false, note: (err as Error).message.slice(0, 200), roles: [] })
      }
    } else {
      paths.push({ id: 'ssh', label: 'ssh -L (default cipher)', kind: 'anchor', available: false, note: 'sshd/ssh not installed (apt-get install openssh-server openssh-client)', roles: [] })
    }
    const socatPort = await freePort()
    const socat = await startSocat(socatPort, servicePort).catch(() => undefined)
    if (socat != null) {
      ports.socat = socatPort
      tracked.socat = [{ role: 'socat', pid: socat.pid, children: true }]
      memOf['socat (listener)'] = { role: 'socat', pid: socat.pid }
      const v = spawnSync(which('socat')!, ['-V'], { encoding: 'utf8' })
      result.socat = /socat version (\S+)/.exec(v.stdout ?? '')?.[1] ?? 'unknown'
      paths.push({ id: 'socat', label: 'socat TCP forwarder', short: 'socat', kind: 'anchor', available: true, roles: ['socat'] })
    } else {
      paths.push({ id: 'socat', label: 'socat TCP forwarder', kind: 'anchor', available: false, note: 'socat not installed', roles: [] })
    }
    paths.push({ id: 'direct', label: 'peerup direct (proxy --path direct)', short: 'peerup direct', kind: 'peerup', available: true, roles: ['proxy', 'home'] })
    paths.push({ id: 'relay', label: 'peerup relayed (proxy --path relay)', short: 'peerup relayed', kind: 'peerup', available: true, roles: ['proxy', 'relay', 'home'] })
    // the SOCKS5 gateway: the client app speaks SOCKS5 to `peerup gateway`, which picks the path itself (direct here)
    // one gateway process serves both the SOCKS5 path and the DNS section (one daemon per config: its control socket)
    const gateway = h.start(['--config', mesh.client.config, 'gateway', '--socks', '127.0.0.1:0', '--dns', '127.0.0.1:0'])
    const socksPort = Number((await gateway.waitFor(/^socks5 127\.0\.0\.1:(\d+)$/m, 30_000))[1])
    const dnsPort = Number((await gateway.waitFor(/^dns 127\.0\.0\.1:(\d+)$/m, 30_000))[1])
    ports.socks = { socks: socksPort, host: 'home.grewal', port: servicePort }
    tracked.socks = [{ role: 'gateway', pid: pid(gateway) }, { role: 'home', pid: pid(mesh.homeProc) }]
    memOf['gateway (SOCKS5)'] = { role: 'gateway', pid: pid(gateway) }
    paths.push({ id: 'socks', label: 'peerup SOCKS5 gateway (auto path: direct)', short: 'peerup SOCKS5', kind: 'peerup', available: true, roles: ['gateway', 'home'] })
  return { servicePort, servers, mesh, resolver, gateway, dnsPort, sshd, ports, tracked, memOf, paths }
}
