/**
 * CPU cost of the relayed path with relay, home and client in ONE process:
 * `node dist/bench/relay-inproc.js [--size MiB] [--runs N]`. Prints one JSON
 * line with the CPU seconds per GiB of each transfer (up, down).
 *
 * One event loop runs all three nodes, so the cost per byte does not depend
 * on how the OS schedules three processes on a shared machine: this is the
 * steady metric for A/B runs of code changes (run the script alternately per
 * variant). The bench servers (sink/source) run in their own process and are
 * not counted; the measuring client is (the same for every variant).
 */
import '../src/polyfill.js'
import { join } from 'node:path'
import { Harness, freePort } from '../test/fixtures/mesh.js'
import { addAuthorizedKey, addNameToFile, addServiceToConfig, createPeerupNode, createRelayServer, editYamlFile, loadConfig } from '../src/index.js'
import { download, upload } from './client.js'
import { startBenchServers } from './spawn.js'

const MiB = 1024 * 1024
const args = process.argv.slice(2)
const opt = (name: string, def: number): number => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def }
const size = opt('--size', 128)
const runs = opt('--runs', 1)

const servers = await startBenchServers()
const h = new Harness()
try {
  const relayPort = await freePort()
  const relay = await h.initNode('relay', 'relay', { listen: [`/ip4/127.0.0.1/tcp/${relayPort}`] })
  const home = await h.initNode('home', 'home', { listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`] })
  const client = await h.initNode('laptop', 'client')
  const relayAddr = `/ip4/127.0.0.1/tcp/${relayPort}/p2p/${relay.peerId}`
  addAuthorizedKey(join(relay.dir, 'authorized_keys'), home.peerId, { comment: 'home' })
  addAuthorizedKey(join(relay.dir, 'authorized_keys'), client.peerId, { comment: 'laptop' })
  addAuthorizedKey(join(home.dir, 'authorized_keys'), client.peerId, { comment: 'laptop' })
  addAuthorizedKey(join(client.dir, 'authorized_keys'), home.peerId, { comment: 'home' })
  for (const n of [home, client]) editYamlFile(n.config, doc => { doc.set('relays', doc.createNode([relayAddr])) })
  addServiceToConfig(home.config, 'bench', `127.0.0.1:${servers.port}`)
  addNameToFile(join(client.dir, 'names.yaml'), 'home.grewal', home.peerId, [])

  const r = await createRelayServer({ config: loadConfig(relay.config) })
  await r.start()
  const b = await createPeerupNode({ config: loadConfig(home.config) })
  await b.start()
  while (r.reservationCount() < 1) await new Promise(resolve => setTimeout(resolve, 50))
  const a = await createPeerupNode({ config: loadConfig(client.config), serve: false, listen: [] })
  await a.start()
  const proxy = await a.proxy('home.grewal', 'bench', 0, { path: 'relay' })
  await upload(proxy.port, 8 * MiB, 10_000)
  await download(proxy.port, 8 * MiB, 10_000)
  const cpu = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }
  const out: { up: number[], down: number[], upMiBs: number[], downMiBs: number[] } = { up: [], down: [], upMiBs: [], downMiBs: [] }
  for (let i = 0; i < runs; i++) {
    for (const dir of ['up', 'down'] as const) {
      const c0 = cpu()
      const t = dir === 'up' ? await upload(proxy.port, size * MiB, 10_000) : await download(proxy.port, size * MiB, 10_000)
      out[dir].push(Number(((cpu() - c0) / (size / 1024)).toFixed(2)))
      out[`${dir}MiBs`].push(Math.round(size / t.seconds))
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
  await proxy.close()
  await a.stop({ graceMs: 0 })
  await b.stop({ graceMs: 0 })
  await r.stop()
} finally {
  await h.cleanup()
  await servers.stop()
}
process.exit(0)
