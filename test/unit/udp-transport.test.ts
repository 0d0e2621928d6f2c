import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../src/index.js'

describe('UDP transport loading', () => {
  const here = dirname(fileURLToPath(import.meta.url))
  const mod = resolve(here, '../../src/network/udp-transport.js')
  // a fresh process per call: the addon is loaded once per process
  const status = (env: NodeJS.ProcessEnv, options = {}): any => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e',
    `const m = await import(${JSON.stringify(mod)}); console.log(JSON.stringify(await m.udpTransportStatus(${JSON.stringify(options)})))`], { env: { ...process.env, ...env }, timeout: 30_000 }).toString())
  const dir = mkdtempSync(join(tmpdir(), 'peerup-udp-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('loads the native addon on this platform, and can be turned off with a reason', () => {
    assert.deepEqual(status({ PEERUP_DISABLE_UDP: '' }), { available: true })
    const off = status({}, { disabled: 'turned off by PEERUP_DISABLE_UDP=1' })
    assert.equal(off.available, false)
    assert.match(off.reason, /PEERUP_DISABLE_UDP/)
  })

  it('the library reads no environment variable: PEERUP_DISABLE_UDP is the config layer\'s to pass in', () => {
    assert.deepEqual(status({ PEERUP_DISABLE_UDP: '1' }), { available: true })
  })

  it('loadConfig turns PEERUP_DISABLE_UDP=1 into udpDisabled, with the reason', () => {
    const file = join(dir, 'config.yaml')
    writeFileSync(file, 'role: client\n')
    assert.equal(loadConfig(file, {}).udpDisabled, undefined)
    assert.equal(loadConfig(file, { PEERUP_DISABLE_UDP: '0' }).udpDisabled, undefined)
    assert.match(loadConfig(file, { PEERUP_DISABLE_UDP: '1' }).udpDisabled ?? '', /PEERUP_DISABLE_UDP=1/)
  })
})
