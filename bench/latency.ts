/**
 * The latency sections: a new connection through a running forwarder to
 * its first echoed byte, and a cold process start to its first byte
 * (`peerup nc`, `peerup resolve`, against node and ssh -W references).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { PEERUP } from '../test/fixtures/mesh.js'
import { firstEcho } from './client.js'
import { coldFirstByte } from './spawn.js'
import { sshStdioArgs } from './ssh.js'
import { summarize, type LatencySummary } from './stats.js'
import type { BenchSetup } from './setup.js'

/** New connection → first echo byte, `latencyN` times per live path (none when `skip`). */
export async function measureNewTunnel (setup: Pick<BenchSetup, 'ports'>, o: { live: string[], latencyN: number, skip: boolean, log: (line: string) => void }): Promise<Record<string, LatencySummary>> {
  const { ports } = setup
  const { live, latencyN, log } = o
  log(`latency: ${latencyN} × new connection → first echo byte per path`)
  const lat: Record<string, number[]> = {}
  for (const id of live) lat[id] = []
  const latErrors: Record<string, string[]> = {}
  const streak: Record<string, number> = {}
  for (let i = 0; i < (o.skip ? 0 : latencyN); i++) {
    for (const id of live) {
      if ((streak[id] ?? 0) >= 3) continue // gave up on this path
      try {
        lat[id].push(await firstEcho(ports[id], 5000))
        streak[id] = 0
      } catch (err) {
        streak[id] = (streak[id] ?? 0) + 1
        ;(latErrors[id] ??= []).push((err as Error).message)
        if (streak[id] === 3) log(`  latency: giving up on ${id} after 3 failures in a row: ${(err as Error).message}`)
      }
    }
  }
  const newTunnel: Record<string, LatencySummary> = {}
  if (!o.skip) for (const id of live) newTunnel[id] = summarize(lat[id], latErrors[id])

  return newTunnel
}

/** Cold process start → first byte, `coldRuns` times (reference rows fewer with `quick`; none when `skip`). */
export async function measureColdStarts (setup: Pick<BenchSetup, 'mesh' | 'resolver' | 'sshd' | 'servicePort'>, o: { quick: boolean, coldRuns: number, skip: boolean, log: (line: string) => void }): Promise<Record<string, LatencySummary>> {
  const { mesh, resolver, sshd, servicePort } = setup
  const { quick, coldRuns, log } = o
  log(`cold start → first byte: ${coldRuns} runs each`)
  // the reference rows (what Node start-up and module loading alone cost) get fewer runs in --quick
  const refRuns = quick ? 2 : coldRuns
  const cold: Record<string, { cmd: string, args: string[], input?: string, runs: number, before?: () => void }> = {
    'node (empty script)': { cmd: process.execPath, args: ['-e', 'process.stdout.write("x")'], runs: refRuns },
    'peerup --version (module load)': { cmd: process.execPath, args: [PEERUP, '--version'], runs: refRuns },
    'peerup nc, direct': { cmd: process.execPath, args: [PEERUP, '--config', mesh.client.config, 'nc', 'home.grewal', 'bench', '--path', 'direct'], input: 'x', runs: coldRuns },
    'peerup nc, relayed': { cmd: process.execPath, args: [PEERUP, '--config', mesh.client.config, 'nc', 'home.grewal', 'bench', '--path', 'relay'], input: 'x', runs: coldRuns },
    'peerup nc --no-daemon, relayed': { cmd: process.execPath, args: [PEERUP, '--config', mesh.client.config, 'nc', 'home.grewal', 'bench', '--path', 'relay', '--no-daemon'], input: 'x', runs: coldRuns }
  }
  if (sshd != null) cold['ssh -W (default cipher)'] = { cmd: 'ssh', args: sshStdioArgs(sshd, servicePort), input: 'x', runs: refRuns }
  // name resolution by a node whose names file is empty: the relay's registry answers (cold: no cache file), then the cache
  const resolveCache = join(resolver.dir, '.cache', 'names.json')
  cold['peerup resolve, relay tier (no cache)'] = { cmd: process.execPath, args: [PEERUP, '--config', resolver.config, 'resolve', 'home.grewal'], runs: refRuns, before: () => { rmSync(resolveCache, { force: true }) } }
  cold['peerup resolve, cached'] = { cmd: process.execPath, args: [PEERUP, '--config', resolver.config, 'resolve', 'home.grewal'], runs: refRuns }
  const coldMs: Record<string, number[]> = {}
  for (const k of Object.keys(cold)) coldMs[k] = []
  const coldErrors: Record<string, string[]> = {}
  const coldStreak: Record<string, number> = {}
  for (let i = 0; i < (o.skip ? 0 : coldRuns); i++) {
    for (const [k, c] of Object.entries(cold)) {
      if (i >= c.runs || (coldStreak[k] ?? 0) >= 3) continue
      try {
        c.before?.()
        coldMs[k].push(await coldFirstByte(k, c.cmd, c.args, c.input, 10_000))
        coldStreak[k] = 0
      } catch (err) {
        coldStreak[k] = (coldStreak[k] ?? 0) + 1
        ;(coldErrors[k] ??= []).push((err as Error).message.slice(0, 300))
        log(`  cold start ${k} failed: ${(err as Error).message.slice(0, 300)}`)
      }
    }
  }
  const coldStart: Record<string, LatencySummary> = {}
  if (!o.skip) {
    for (const k of Object.keys(cold)) coldStart[k] = summarize(coldMs[k], coldErrors[k])
    log(`nc cold p50: direct ${coldStart['peerup nc, direct'].p50} ms, relayed ${coldStart['peerup nc, relayed'].p50} ms`)
  }
  return coldStart
}
