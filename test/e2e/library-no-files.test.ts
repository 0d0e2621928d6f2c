import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const worker = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'library-no-files-worker.js')

describe('library: a home node and a client with no files on disk', () => {
  it('reach a TCP echo service over loopback, byte-exact, from peerup imports alone, writing nothing', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peerup-nofiles-'))
    try {
      // no PEERUP_* variable, HOME and cwd in an empty directory: any file the library writes lands there
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PEERUP_') && k !== 'XDG_CONFIG_HOME'))
      const child = spawn(process.execPath, [worker], { cwd: dir, env: { ...env, HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout.on('data', (c: Buffer) => { out += c.toString() })
      child.stderr.on('data', (c: Buffer) => { err += c.toString() })
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 60_000)
      const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
      clearTimeout(timer)
      assert.equal(code, 0, `worker failed: ${out}\n${err.slice(-4000)}`)
      const result = JSON.parse(out.trim().split('\n').pop() ?? '{}')
      assert.equal(result.ok, true, out)
      assert.equal(result.path, 'direct-tcp')
      assert.equal(result.received, result.sent)
      assert.equal(result.same, true, 'the echo came back byte-exact')
      assert.deepEqual(readdirSync(dir, { recursive: true }), [], 'nothing was written to the cwd or HOME')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
