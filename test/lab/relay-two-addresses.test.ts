/**
 * The README walkthrough ("Set up a relay, a home node and a laptop") done
 * as a new user would, with real CLI processes in the NAT lab, on a relay
 * that has two addresses on its public segment (a VPS with a floating IP):
 * the members are given the second address, and the default route leaves
 * by the first. Home and laptop sit behind their own NATs (masquerade,
 * unsolicited inbound dropped).
 *
 * With the default relay config, the STUN responder must answer from the
 * address it was asked at, so home and laptop reach `direct-udp`. With
 * `relay.stun.host: 0.0.0.0` (a socket on the wildcard answers from the
 * outgoing interface's address, which the NATs drop), the path stays
 * relayed and `peerup ping` says that the STUN server never answered.
 */
import { after, afterEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { editYamlFile } from '../../src/index.js'
import { Harness, type Proc } from '../fixtures/mesh.js'
import { createLab, natTopology, NAT_LAB, type Lab, type NatTopology } from '../fixtures/netns.js'
import { labEcho, LAB_ECHO_PORT, lastJson } from '../fixtures/lab-mesh.js'

/** Bound on direct-udp after the first relayed reply (the issue saw 0.2–1.5 s with a fixed relay). */
const DIRECT_WITHIN_MS = 5000

interface Walkthrough {
  t: NatTopology
  relayProc: Proc
  homeProc: Proc
  homeId: string
  laptopConfig: string
  /** ms from `peerup daemon` on the home to its `ready` and its `reserved on relay` lines. */
  readyMs: number
  reservedMs: number
}

describe('README walkthrough in the NAT lab, relay with two addresses', { timeout: 300_000 }, () => {
  let lab: Lab | undefined
  let h: Harness | undefined
  afterEach(async () => {
    await h?.cleanup()
    await lab?.cleanup()
    h = undefined
    lab = undefined
  })
  after(async () => { await h?.cleanup(); await lab?.cleanup() })

  const peerup = async (ns: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | string, stdout: string, stderr: string }> => {
    const r = await h!.run(args, { netns: ns, timeoutMs })
    return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr }
  }
  const must = async (ns: string, args: string[]): Promise<string> => {
    const r = await peerup(ns, args)
    assert.equal(r.code, 0, `peerup ${args.join(' ')}: ${r.stderr}`)
    return r.stdout
  }

  /** Steps 1–4 of the README, with `relayConfig` applied to the relay's config before it starts. */
  async function walkthrough (relayConfig?: (file: string) => void): Promise<Walkthrough> {
    lab = await createLab()
    h = new Harness()
    const t = await natTopology(lab, { relaySecondAddress: true })
    // home routers drop unsolicited packets to themselves (as udp-lab.ts explains)
    for (const [ns, wan] of [[t.homeRouter, t.ifs.homeWan], [t.clientRouter, t.ifs.clientWan]] as const) {
      await lab.nft(ns, `table ip labinput {\n  chain input {\n    type filter hook input priority filter; policy accept;\n    iifname "${wan}" ct state new drop\n  }\n}\n`)
    }
    const relayCfg = join(h.root, 'relay', 'config.yaml')
    const homeCfg = join(h.root, 'home', 'config.yaml')
    const laptopCfg = join(h.root, 'laptop', 'config.yaml')

    // 1. relay: the default config (listen, STUN), as `peerup init` writes it
    const relayId = (await must(t.relay, ['--config', relayCfg, 'init', '--role', 'relay'])).trim()
    relayConfig?.(relayCfg)
    const relayProc = h.start(['--config', relayCfg, 'relay', 'serve'], { netns: t.relay })
    await relayProc.waitFor(/^ready$/m, 30_000)
    // the operator hands out the floating address, not the one the default route leaves by
    const relayAddr = relayProc.stdout().split('\n').find(l => l.startsWith(`/ip4/${NAT_LAB.relayAlt}/tcp/7777/p2p/`))
    assert.ok(relayAddr != null, `relay serve prints its second address: ${relayProc.stdout()}`)
    assert.ok(relayAddr.endsWith(`/p2p/${relayId}`))

    // 2. home node
    const homeId = (await must(t.home, ['--config', homeCfg, 'init', '--role', 'home', '--network', 'grewal', '--name', 'home', '--relay', relayAddr])).trim()
    await must(t.home, ['--config', homeCfg, 'service', 'add', 'echo', `127.0.0.1:${LAB_ECHO_PORT}`])
    await labEcho(t.home)
    // 3. laptop
    const laptopId = (await must(t.client, ['--config', laptopCfg, 'init', '--role', 'client', '--network', 'grewal', '--name', 'laptop', '--relay', relayAddr])).trim()
    await must(t.client, ['--config', laptopCfg, 'names', 'add', 'home.grewal', homeId])
    // 4. trust
    await must(t.relay, ['--config', relayCfg, 'auth', 'add', homeId, '--comment', 'home'])
    await must(t.relay, ['--config', relayCfg, 'auth', 'add', laptopId, '--comment', 'laptop'])
    await must(t.home, ['--config', homeCfg, 'auth', 'add', laptopId, '--comment', 'my laptop'])
    await must(t.client, ['--config', laptopCfg, 'auth', 'add', homeId, '--comment', 'home'])

    const started = Date.now()
    const homeProc = h.start(['--config', homeCfg, 'daemon'], { netns: t.home })
    await homeProc.waitFor(/^ready$/m, 30_000)
    const readyMs = Date.now() - started
    await homeProc.waitFor(/^reserved on relay/m, 30_000)
    return { t, relayProc, homeProc, homeId, laptopConfig: laptopCfg, readyMs, reservedMs: Date.now() - started }
  }

  it('default relay config: home and laptop reach direct-udp', async () => {
    const w = await walkthrough()
    // 5. use it: the first ping goes through the relay
    let started = Date.now()
    const first = await peerup(w.t.client, ['--config', w.laptopConfig, 'ping', 'home.grewal', '-c', '1', '--json'])
    const firstMs = Date.now() - started
    assert.equal(first.code, 0, first.stderr)
    assert.equal(JSON.parse(first.stdout.trim().split('\n').pop()!).class, 'relayed')

    started = Date.now()
    const r = await peerup(w.t.client, ['--config', w.laptopConfig, 'ping', 'home.grewal', '--until-direct', '-c', '100', '--interval', '100', '--json'])
    const untilMs = Date.now() - started
    const p = lastJson(r)
    assert.equal(p.class, 'direct-udp', `no direct UDP path after ${p.classes.length} pings: udp ${JSON.stringify(p.udp)} ${r.stderr}`)
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(p.udp.stun, [`stun:${NAT_LAB.relayAlt}:3478`])
    assert.ok(p.directAfterMs != null && p.directAfterMs <= DIRECT_WITHIN_MS, `direct after ${p.directAfterMs} ms`)
    assert.doesNotMatch(w.homeProc.stderr(), /STUN/, 'the home has no STUN warning')
    console.log(`# walkthrough timings: home ready ${w.readyMs} ms and reserved ${w.reservedMs} ms after \`peerup daemon\`; ` +
      `first relayed ping: wall ${firstMs} ms (rtt ${first.stdout.match(/"rtts":\[([\d.]+)/)?.[1]} ms); ` +
      `ping --until-direct: direct-udp ${p.directAfterMs} ms after its first reply, wall ${untilMs} ms, ${p.classes.length} pings (${p.classes.join(' ')})`)
  })

  it('relay.stun.host: 0.0.0.0 on the same relay: stays relayed, and ping and the home daemon say the STUN server never answered', async () => {
    const w = await walkthrough(file => { editYamlFile(file, doc => { doc.setIn(['relay', 'stun', 'host'], '0.0.0.0') }) })
    const r = await peerup(w.t.client, ['--config', w.laptopConfig, 'ping', 'home.grewal', '-c', '20', '--interval', '250', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const p = lastJson(r)
    assert.ok(p.classes.every((c: string) => c === 'relayed'), `expected relayed only: ${JSON.stringify(p)}`)
    assert.match(String(p.udp.reason), new RegExp(`no STUN answer from stun:${NAT_LAB.relayAlt.replaceAll('.', '\\.')}:3478`), JSON.stringify(p.udp))
    await w.homeProc.waitFor(new RegExp(`no STUN answer from stun:${NAT_LAB.relayAlt.replaceAll('.', '\\.')}:3478`), 15_000)
  })
})
