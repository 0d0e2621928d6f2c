/**
 * CLI behaviour without a network: config and file-mode errors (exit 2 with
 * one clear line naming file/line/key), init/whoami, keytool, and the
 * auth/service/names editing commands (round trips that keep comments).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Harness, KEYTOOL, PEERUP, type NodeDir, type RunResult } from '../fixtures/mesh.js'

async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

/** stderr is exactly one line starting with `prefix`; returns it. */
function oneLine (r: RunResult, prefix = 'peerup: '): string {
  const lines = r.stderr.split('\n').filter(l => l !== '')
  assert.equal(lines.length, 1, `expected one stderr line, got: ${JSON.stringify(r.stderr)}`)
  assert.equal(lines[0].startsWith(prefix), true, lines[0])
  return lines[0]
}

const mode = (f: string): number => statSync(f).mode & 0o777

// sections are independent (own config dirs and files) and run concurrently
describe('CLI: configuration errors and editing commands', { concurrency: 3 }, () => {
  const h = new Harness()
  let home: NodeDir
  after(async () => { await h.cleanup() })
  before(async () => { home = await h.initNode('home', 'home') })
  const peerup = async (args: string[], o: { env?: NodeJS.ProcessEnv, input?: string } = {}): Promise<RunResult> => await h.run(args, { timeoutMs: 45_000, ...o })
  const withHome = async (args: string[]): Promise<RunResult> => await peerup(['--config', home.config, ...args])

  describe('entry points', () => {
    it('the shipped CLI entries exist, are node scripts and run on this Node', async () => {
      const root = resolve(PEERUP, '../../..')
      const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
      const [major, minor] = process.versions.node.split('.').map(Number)
      const [wantMajor, wantMinor] = (/>=\s*(\d+)\.(\d+)/.exec(pkg.engines.node) ?? []).slice(1).map(Number)
      assert.ok(major > wantMajor || (major === wantMajor && minor >= wantMinor), `node ${process.versions.node} vs engines ${pkg.engines.node}`)
      const bins = [resolve(root, pkg.bin.peerup), resolve(root, pkg.bin['peerup-keytool'])]
      for (const f of bins) assert.equal(readFileSync(f, 'utf8').startsWith('#!/usr/bin/env node\n'), true, f)
      const [r, kt] = await Promise.all([h.run(['--help'], { bin: bins[0] }), h.run(['--help'], { bin: bins[1] })])
      assert.equal(r.code, 0, r.stderr)
      const help = r.stdout.toString()
      assert.match(help, /Usage: peerup/)
      assert.match(help, /Exit codes:/)
      for (const line of [/^\s*0\s+ok/m, /^\s*1\s+runtime/m, /^\s*2\s+usage or configuration/m, /^\s*3\s+not authorized/m, /^\s*4\s+unreachable or not found/m]) assert.match(help, line)
      assert.equal(kt.code, 0, kt.stderr)
      assert.match(kt.stdout.toString(), /Usage: peerup-keytool/)
      assert.match(kt.stdout.toString(), /Exit codes:/)
    })

    it('unknown command or option is a usage error (exit 2)', async () => {
      const a = await peerup(['frobnicate'])
      assert.equal(a.code, 2)
      oneLine(a, 'error: ')
      const b = await withHome(['whoami', '--bogus'])
      assert.equal(b.code, 2)
      oneLine(b, 'error: ')
    })

    it('an unknown --path value is exit 2, before any network activity', async () => {
      const cmds = [['nc', 'home.grewal', 'web'], ['proxy', 'home.grewal', 'web', '0'], ['ping', 'home.grewal']]
      const results = await Promise.all(cmds.map(async cmd => await withHome([...cmd, '--path', 'sideways'])))
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, 2, `${cmds[i][0]}: ${r.stderr}`)
        const line = oneLine(r)
        assert.match(line, /--path must be auto, direct or relay \(got "sideways"\)/)
      }
    })
  })

  describe('init and whoami', () => {
    it('a client in a network is told to trust the home and run its own daemon, not to add a names entry', async () => {
      const r = await peerup(['--config', join(h.root, 'steps-client', 'config.yaml'), 'init', '--role', 'client', '--network', 'grewal', '--name', 'laptop'])
      assert.equal(r.code, 0, r.stderr)
      const steps = r.stderr.slice(r.stderr.indexOf('next steps:'))
      assert.match(steps, /peerup auth add <home-peer-id>/)
      assert.match(steps, /^ {2}peerup daemon\s/m)
      assert.match(steps, /ssh you@<home-host>\.grewal$/m)
      // the home registers its name with the relay
      assert.doesNotMatch(steps, /names add/)
    })

    it('init writes 0600 secrets, refuses to overwrite without --force, whoami prints only the peer ID', async () => {
      const dir = join(h.root, 'fresh')
      const config = join(dir, 'config.yaml')
      const r = await peerup(['--config', config, 'init', '--role', 'home', '--network', 'grewal', '--name', 'box'])
      assert.equal(r.code, 0, r.stderr)
      const peerId = r.stdout.toString().trim()
      assert.match(peerId, /^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/)
      assert.equal(mode(join(dir, 'identity.key')), 0o600)
      assert.equal(mode(join(dir, 'authorized_keys')), 0o600)
      assert.equal(existsSync(join(dir, 'names.yaml')), true)
      assert.equal(mode(dir) & 0o077, 0)
      const key = readFileSync(join(dir, 'identity.key'))

      const again = await peerup(['--config', config, 'init', '--role', 'home'])
      assert.equal(again.code, 2)
      const line = oneLine(again)
      assert.match(line, /already exist/)
      assert.match(line, /--force/)
      assert.deepEqual(readFileSync(join(dir, 'identity.key')), key, 'the key was not touched')

      const who = await peerup(['--config', config, 'whoami'])
      assert.equal(who.code, 0, who.stderr)
      assert.equal(who.stdout.toString(), peerId + '\n')
      assert.equal(who.stderr, '')

      const json = await peerup(['--config', config, 'whoami', '--json'])
      assert.equal(json.code, 0, json.stderr)
      const parsed = JSON.parse(json.stdout.toString())
      assert.equal(parsed.peerId, peerId)
      assert.equal(parsed.role, 'home')
      assert.equal(parsed.name, 'box.grewal')

      const forced = await peerup(['--config', config, 'init', '--role', 'client', '--force'])
      assert.equal(forced.code, 0, forced.stderr)
      const newId = forced.stdout.toString().trim()
      assert.notEqual(newId, peerId)
      assert.equal(mode(join(dir, 'identity.key')), 0o600)
      const who2 = await peerup(['--config', config, 'whoami'])
      assert.equal(who2.stdout.toString(), newId + '\n')
    })

    it('init rejects a bad --role with exit 2', async () => {
      const r = await peerup(['--config', join(h.root, 'badrole', 'config.yaml'), 'init', '--role', 'gateway'])
      assert.equal(r.code, 2)
      assert.match(oneLine(r), /--role must be relay, home or client/)
    })

    it('no config file at all is exit 2 with a hint', async () => {
      const r = await peerup(['whoami'], { env: { PEERUP_HOME: join(h.root, 'nothing-here'), XDG_CONFIG_HOME: '' } })
      assert.equal(r.code, 2)
      assert.match(oneLine(r), /no config file found .*peerup init/)
    })
  })

  describe('unsafe file modes', () => {
    it('a 0644 key file is exit 2 with a chmod 600 hint', async () => {
      const n = await h.initNode('loosekey', 'home')
      const key = join(n.dir, 'identity.key')
      chmodSync(key, 0o644)
      const runs = [['whoami'], ['daemon']]
      const results = await Promise.all(runs.map(async args => await peerup(['--config', n.config, ...args])))
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, 2, `${runs[i][0]}: ${r.stderr}`)
        const line = oneLine(r)
        assert.equal(line.includes(`chmod 600 ${key}`), true, line)
        assert.match(line, /0644/)
      }
    })

    it('a 0644 authorized_keys is exit 2 with a chmod 600 hint', async () => {
      const n = await h.initNode('looseak', 'home')
      const ak = join(n.dir, 'authorized_keys')
      chmodSync(ak, 0o644)
      const runs = [['daemon'], ['auth', 'list'], ['auth', 'add', await newPeerId()]]
      const results = await Promise.all(runs.map(async args => await peerup(['--config', n.config, ...args])))
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, 2, `${runs[i].join(' ')}: ${r.stderr}`)
        const line = oneLine(r)
        assert.equal(line.includes(`chmod 600 ${ak}`), true, line)
      }
    })

    it('a 0644 relay members file is exit 2', async () => {
      const n = await h.initNode('looserelay', 'relay')
      const ak = join(n.dir, 'authorized_keys')
      chmodSync(ak, 0o644)
      const r = await peerup(['--config', n.config, 'relay', 'serve'])
      assert.equal(r.code, 2, r.stderr)
      assert.equal(oneLine(r).includes(`chmod 600 ${ak}`), true)
    })
  })

  describe('config file errors', () => {
    const write = (name: string, text: string): string => {
      const f = join(home.dir, name)
      writeFileSync(f, text)
      return f
    }

    it('broken YAML is exit 2 naming file and line', async () => {
      const f = write('broken.yaml', 'version: 1\nrole: home\nnetwork:\n  name: grewal\n host: box\nrelays: []\n')
      const r = await peerup(['--config', f, 'whoami'])
      assert.equal(r.code, 2)
      assert.match(oneLine(r), new RegExp(`^peerup: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: invalid YAML: `))
    })

    it('a top-level typo is exit 2 naming file, line, key and the nearest valid key', async () => {
      const f = write('typo1.yaml', '# my node\nversion: 1\nrole: home\nsecurty:\n  enable_gating: true\n')
      const r = await peerup(['--config', f, 'whoami'])
      assert.equal(r.code, 2)
      assert.equal(oneLine(r), `peerup: ${f}:4: securty: unknown key "securty" (did you mean "security"?)`)
    })

    it('a nested typo (services.web.local_adress) is exit 2 with the same detail', async () => {
      const f = write('typo2.yaml', 'version: 1\nrole: home\nservices:\n  web:\n    local_adress: 127.0.0.1:8080\n')
      const runs = [['whoami'], ['daemon'], ['service', 'list']]
      const results = await Promise.all(runs.map(async args => await peerup(['--config', f, ...args])))
      for (const [i, r] of results.entries()) {
        assert.equal(r.code, 2, `${runs[i][0]}: ${r.stderr}`)
        assert.equal(oneLine(r), `peerup: ${f}:5: services.web.local_adress: unknown key "local_adress" (did you mean "local_address"?)`)
      }
    })

    it('a bad value is exit 2 naming file, line and key', async () => {
      const f = write('badvalue.yaml', 'version: 1\nrole: home\nservices:\n  web:\n    local_address: 127.0.0.1:8080\n    enabled: "yes please"\n')
      const r = await peerup(['--config', f, 'whoami'])
      assert.equal(r.code, 2)
      assert.match(oneLine(r), new RegExp(`^peerup: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: services\\.web\\.enabled: `))
    })

    it('a bad network.announce multiaddr is exit 2 naming file, line and key', async () => {
      const f = write('badannounce.yaml', 'version: 1\nrole: home\nnetwork:\n  announce:\n    - /ip4/198.51.100.2/tcp/4001\n    - /ip4/198.51.100/tcp/4001\n')
      const r = await peerup(['--config', f, 'whoami'])
      assert.equal(r.code, 2, r.stderr)
      assert.match(oneLine(r), new RegExp(`^peerup: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6: network\\.announce\\.1: "/ip4/198\\.51\\.100/tcp/4001" is not a valid multiaddr`))
      const circuit = write('circuitannounce.yaml', 'version: 1\nrole: home\nnetwork:\n  announce: [/ip4/203.0.113.7/tcp/7777/p2p-circuit]\n')
      const r2 = await peerup(['--config', circuit, 'whoami'])
      assert.equal(r2.code, 2, r2.stderr)
      assert.match(oneLine(r2), /:4: network\.announce\.0: an address peers can dial directly/)
    })

    it('a broken names file is exit 2 naming it when a command reads it', async () => {
      const n = await h.initNode('badnames', 'client')
      const names = join(n.dir, 'names.yaml')
      writeFileSync(names, 'names:\n  home: 12D3KooWfoo\nnmaes: {}\n')
      const r = await peerup(['--config', n.config, 'names', 'list'])
      assert.equal(r.code, 2, r.stderr)
      assert.equal(oneLine(r), `peerup: ${names}:3: nmaes: unknown key "nmaes" (did you mean "names"?)`)
    })
  })

  // every case through peerup-keytool; `peerup keytool` (same commands) gets one pass over each subcommand below
  describe('keytool (peerup-keytool)', () => {
    const kt = async (args: string[], env?: NodeJS.ProcessEnv): Promise<RunResult> => await h.run(args, { bin: KEYTOOL, env, timeoutMs: 45_000 })

    it('generate / peerid, refusing to overwrite without --force', async () => {
      const file = join(h.root, 'kt.key')
      const g = await kt(['generate', file])
      assert.equal(g.code, 0, g.stderr)
      const id = g.stdout.toString().trim()
      assert.match(id, /^12D3KooW/)
      assert.equal(mode(file), 0o600)
      const [p, again] = await Promise.all([kt(['peerid', file]), kt(['generate', file])])
      assert.equal(p.code, 0, p.stderr)
      assert.equal(p.stdout.toString(), id + '\n')
      assert.equal(again.code, 2)
      assert.match(oneLine(again), /already exists .*--force/)
      assert.equal((await kt(['peerid', file])).stdout.toString(), id + '\n')
      const forced = await kt(['generate', file, '--force'])
      assert.equal(forced.code, 0, forced.stderr)
      assert.notEqual(forced.stdout.toString().trim(), id)
      chmodSync(file, 0o644)
      const loose = await kt(['peerid', file])
      assert.equal(loose.code, 2)
      assert.equal(oneLine(loose).includes(`chmod 600 ${file}`), true)
      const junk = join(h.root, 'kt.junk')
      writeFileSync(junk, 'nope', { mode: 0o600 })
      const bad = await kt(['peerid', junk])
      assert.equal(bad.code, 2)
      assert.match(oneLine(bad), /not a libp2p private key/)
    })

    it('authorize / list / revoke keep other lines, validate reports every bad line', async () => {
      const file = join(h.root, 'kt_authorized_keys')
      const header = '# team members\n\n'
      writeFileSync(file, header, { mode: 0o600 })
      const a = await newPeerId()
      const b = await newPeerId()
      const add = await kt(['authorize', a, '--comment', 'alice laptop', '--file', file])
      assert.equal(add.code, 0, add.stderr)
      assert.equal((await kt(['authorize', b, '--expires', '2999-01-01T00:00:00Z', '--file', file])).code, 0)
      const dup = await kt(['authorize', a, '--file', file])
      assert.equal(dup.code, 0)
      assert.match(dup.stderr, /already/)
      const [list, table, valid] = await Promise.all([kt(['list', '--file', file, '--json']), kt(['list', '--file', file]), kt(['validate', '--file', file])])
      assert.equal(list.code, 0, list.stderr)
      assert.deepEqual(JSON.parse(list.stdout.toString()), [
        { peerId: a, comment: 'alice laptop', expires: null, line: 3 },
        { peerId: b, comment: null, expires: '2999-01-01T00:00:00.000Z', line: 4 }
      ])
      assert.match(table.stdout.toString(), new RegExp(`${a}.*alice laptop`))
      assert.equal(readFileSync(file, 'utf8').startsWith(header), true)
      assert.equal(valid.code, 0, valid.stderr)
      assert.equal(valid.stdout.toString(), '')
      const rv = await kt(['revoke', b, '--file', file])
      assert.equal(rv.code, 0, rv.stderr)
      assert.equal(readFileSync(file, 'utf8'), `${header}${a}  # alice laptop\n`)
      const badId = await kt(['authorize', 'not-a-peer', '--file', file])
      assert.equal(badId.code, 2)
      assert.match(oneLine(badId), /invalid peer ID "not-a-peer"/)

      // every bad line, as file:line, exit 1
      writeFileSync(file, `${header}${a}\nbogus-id\n${b} color=blue\n# ok\n${b} expires=soon\n`, { mode: 0o600 })
      const v = await kt(['validate', '--file', file])
      assert.equal(v.code, 1)
      const lines = v.stdout.toString().trim().split('\n')
      assert.equal(lines.length, 3, v.stdout.toString())
      assert.equal(lines[0].startsWith(`${file}:4: `), true, lines[0])
      assert.equal(lines[1].startsWith(`${file}:5: `), true, lines[1])
      assert.equal(lines[2].startsWith(`${file}:7: `), true, lines[2])
      assert.match(v.stderr, /1 valid, 3 invalid/)
    })

    it('defaults to $PEERUP_HOME/authorized_keys', async () => {
      const dir = join(h.root, 'kt-home')
      const env = { PEERUP_HOME: dir }
      const home = await h.run(['--config', join(dir, 'config.yaml'), 'init', '--role', 'client'], { timeoutMs: 45_000 })
      assert.equal(home.code, 0, home.stderr)
      const a = await newPeerId()
      assert.equal((await kt(['authorize', a], env)).code, 0)
      assert.match(readFileSync(join(dir, 'authorized_keys'), 'utf8'), new RegExp(`^${a}$`, 'm'))
      const l = await kt(['list', '--json'], env)
      assert.deepEqual(JSON.parse(l.stdout.toString()).map((e: any) => e.peerId), [a])
      assert.equal((await kt(['revoke', a], env)).code, 0)
      assert.doesNotMatch(readFileSync(join(dir, 'authorized_keys'), 'utf8'), new RegExp(a))
    })
  })

  describe('keytool (peerup keytool)', () => {
    it('generate / peerid / authorize / list / revoke / validate', async () => {
      const kt = async (args: string[]): Promise<RunResult> => await h.run(['keytool', ...args], { timeoutMs: 45_000 })
      const key = join(h.root, 'sub-kt.key')
      const file = join(h.root, 'sub-kt_authorized_keys')
      const g = await kt(['generate', key])
      assert.equal(g.code, 0, g.stderr)
      const id = g.stdout.toString().trim()
      const other = await newPeerId()
      const [p, again, auth] = await Promise.all([kt(['peerid', key]), kt(['generate', key]), kt(['authorize', other, '--comment', 'x', '--file', file])])
      assert.equal(p.stdout.toString(), id + '\n')
      assert.equal(again.code, 2)
      assert.match(oneLine(again), /already exists/)
      assert.equal(auth.code, 0, auth.stderr)
      assert.equal(mode(file), 0o600)
      const [list, valid] = await Promise.all([kt(['list', '--file', file, '--json']), kt(['validate', '--file', file])])
      assert.deepEqual(JSON.parse(list.stdout.toString()), [{ peerId: other, comment: 'x', expires: null, line: 1 }])
      assert.equal(valid.code, 0, valid.stderr)
      const rv = await kt(['revoke', other, '--file', file])
      assert.equal(rv.code, 0, rv.stderr)
      assert.equal(readFileSync(file, 'utf8'), '')
      writeFileSync(file, `${id}\nnope\n${other} a=b\n`, { mode: 0o600 })
      const bad = await kt(['validate', '--file', file])
      assert.equal(bad.code, 1)
      assert.deepEqual(bad.stdout.toString().trim().split('\n').map(l => l.slice(0, file.length + 3)), [`${file}:2:`, `${file}:3:`])
    })
  })

  describe('auth / service / names editing', { concurrency: true }, () => {
    const node = async (name: string): Promise<{ n: NodeDir, run: (args: string[]) => Promise<RunResult> }> => {
      const n = await h.initNode(name, 'home')
      return { n, run: async (args) => await peerup(['--config', n.config, ...args]) }
    }

    it('auth add / list --json / remove round-trip and keep comments', async () => {
      const { n: home, run: withHome } = await node('ed-auth')
      const ak = join(home.dir, 'authorized_keys')
      const original = readFileSync(ak, 'utf8') + '# a note the user wrote\n'
      writeFileSync(ak, original, { mode: 0o600 })
      const a = await newPeerId()
      const add = await withHome(['auth', 'add', a, '--comment', 'my laptop', '--expires', '2999-06-01T00:00:00Z'])
      assert.equal(add.code, 0, add.stderr)
      assert.equal(mode(ak), 0o600)
      const list = await withHome(['auth', 'list', '--json'])
      assert.equal(list.code, 0, list.stderr)
      const entries = JSON.parse(list.stdout.toString())
      assert.deepEqual(entries.map((e: any) => [e.peerId, e.comment, e.expires]), [[a, 'my laptop', '2999-06-01T00:00:00.000Z']])
      assert.equal(readFileSync(ak, 'utf8').startsWith(original), true)
      const rm = await withHome(['auth', 'remove', a])
      assert.equal(rm.code, 0, rm.stderr)
      assert.equal(readFileSync(ak, 'utf8'), original)
      const [empty, bad] = await Promise.all([withHome(['auth', 'list', '--json']), withHome(['auth', 'add', 'QmNotAPeer'])])
      assert.deepEqual(JSON.parse(empty.stdout.toString()), [])
      assert.equal(bad.code, 2)
      assert.match(oneLine(bad), /invalid peer ID "QmNotAPeer"/)
    })

    it('service add / list --json / remove round-trip and keep YAML comments', async () => {
      const { n: home, run: withHome } = await node('ed-svc')
      const before = readFileSync(home.config, 'utf8')
      const comments = before.split('\n').filter(l => l.includes('#'))
      assert.ok(comments.length > 3, 'the init template has comments')
      const add = await withHome(['service', 'add', 'web', '127.0.0.1:8080'])
      assert.equal(add.code, 0, add.stderr)
      const add2 = await withHome(['service', 'add', 'git', '127.0.0.1:9418', '--protocol', '/custom/git/1.0.0'])
      assert.equal(add2.code, 0, add2.stderr)
      const list = await withHome(['service', 'list', '--json'])
      assert.equal(list.code, 0, list.stderr)
      assert.deepEqual(JSON.parse(list.stdout.toString()), [
        { name: 'web', localAddress: '127.0.0.1:8080', protocol: '/peerup/web/1.0.0', enabled: true, authorizedKeys: null },
        { name: 'git', localAddress: '127.0.0.1:9418', protocol: '/custom/git/1.0.0', enabled: true, authorizedKeys: null }
      ])
      const text = readFileSync(home.config, 'utf8')
      for (const c of comments) assert.equal(text.includes(c.slice(c.indexOf('#'))), true, `comment kept: ${c}`)

      // a per-service allow-list created by `auth add --service`
      const a = await newPeerId()
      const sa = await withHome(['auth', 'add', a, '--service', 'web'])
      assert.equal(sa.code, 0, sa.stderr)
      const [svcList, webList, globalList] = await Promise.all([
        withHome(['service', 'list', '--json']), withHome(['auth', 'list', '--service', 'web', '--json']), withHome(['auth', 'list', '--json'])
      ])
      assert.equal(JSON.parse(svcList.stdout.toString())[0].authorizedKeys, 'web_authorized_keys')
      assert.equal(mode(join(home.dir, 'web_authorized_keys')), 0o600)
      assert.deepEqual(JSON.parse(webList.stdout.toString()).map((e: any) => e.peerId), [a])
      assert.deepEqual(JSON.parse(globalList.stdout.toString()), [], 'global list untouched')

      assert.equal((await withHome(['service', 'remove', 'web'])).code, 0)
      assert.equal((await withHome(['service', 'remove', 'git'])).code, 0)
      const after = readFileSync(home.config, 'utf8')
      for (const c of comments) assert.equal(after.includes(c.slice(c.indexOf('#'))), true, `comment kept after remove: ${c}`)

      const [empty, missing, badName, badAddr] = await Promise.all([
        withHome(['service', 'list', '--json']),
        withHome(['service', 'remove', 'web']),
        withHome(['service', 'add', 'Web/1', '127.0.0.1:1']),
        withHome(['service', 'add', 'ok', 'localhost'])
      ])
      assert.deepEqual(JSON.parse(empty.stdout.toString()), [])
      assert.equal(missing.code, 4)
      assert.match(oneLine(missing), /no service named "web"/)
      assert.equal(badName.code, 2)
      oneLine(badName)
      assert.equal(badAddr.code, 2)
      oneLine(badAddr)
      assert.equal(readFileSync(home.config, 'utf8'), after, 'failed edits change nothing')
    })

    it('names add / list --json / remove round-trip and keep comments; unknown name is exit 4', async () => {
      const { n: home, run: withHome } = await node('ed-names')
      const names = join(home.dir, 'names.yaml')
      const original = '# my hosts\nnames:\n  # the NAS in the cupboard\n  nas: 12D3KooWPlaceholder\n'
      const nas = await newPeerId()
      writeFileSync(names, original.replace('12D3KooWPlaceholder', nas))
      const id = await newPeerId()
      const add = await withHome(['names', 'add', 'Box.Grewal', id, '--addr', '/ip4/127.0.0.1/tcp/4001'])
      assert.equal(add.code, 0, add.stderr)
      const list = await withHome(['names', 'list', '--json'])
      assert.equal(list.code, 0, list.stderr)
      assert.deepEqual(JSON.parse(list.stdout.toString()), [
        { name: 'nas', peerId: nas, addrs: [] },
        { name: 'box.grewal', peerId: id, addrs: ['/ip4/127.0.0.1/tcp/4001'] }
      ])
      const text = readFileSync(names, 'utf8')
      assert.match(text, /^# my hosts$/m)
      assert.match(text, /^ {2}# the NAS in the cupboard$/m)
      const rm = await withHome(['names', 'remove', 'box.grewal'])
      assert.equal(rm.code, 0, rm.stderr)
      assert.deepEqual(JSON.parse((await withHome(['names', 'list', '--json'])).stdout.toString()).map((e: any) => e.name), ['nas'])
      assert.match(readFileSync(names, 'utf8'), /# the NAS in the cupboard/)

      const gone = await withHome(['names', 'remove', 'box.grewal'])
      assert.equal(gone.code, 4)
      assert.equal(oneLine(gone), `peerup: name not found: box.grewal (tried: ${names})`)

      const bad = await withHome(['names', 'add', 'a/b', id])
      assert.equal(bad.code, 2)
      assert.match(oneLine(bad), /invalid name "a\/b"/)
    })

    it('nc to an unknown name is exit 4: name not found: X (tried: ...)', async () => {
      const { run: withHome } = await node('ed-nc')
      const r = await withHome(['nc', 'nosuchhost', 'web'])
      assert.equal(r.code, 4, r.stderr)
      const line = oneLine(r)
      assert.match(line, /^peerup: name not found: nosuchhost \(tried: [^)]*names\.yaml[^)]*\)$/)
    })
  })
})
