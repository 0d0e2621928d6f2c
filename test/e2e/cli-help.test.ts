/**
 * `--help` of the real CLI, walked from the top: every command and
 * subcommand it lists has a description (a new user reads these first).
 */
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Harness } from '../fixtures/mesh.js'

/** The entries of a help text's "Commands:" section: [name, description or '']. */
function commandsOf (help: string): Array<[string, string]> {
  const lines = help.split('\n')
  const start = lines.indexOf('Commands:')
  if (start < 0) return []
  const out: Array<[string, string]> = []
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '' || !line.startsWith(' ')) break
    // an entry starts two spaces in; deeper lines continue the description above
    if (!/^ {2}\S/.test(line)) continue
    const [term, ...rest] = line.trim().split(/\s{2,}/)
    out.push([term.split(' ')[0], rest.join(' ')])
  }
  return out
}

describe('peerup --help', () => {
  const h = new Harness()
  after(async () => { await h.cleanup() })

  it('every command and subcommand has a description', { timeout: 120_000 }, async () => {
    const missing: string[] = []
    const seen: string[] = []
    const walk = async (path: string[], depth: number): Promise<void> => {
      const r = await h.run([...path, '--help'], { timeoutMs: 20_000 })
      assert.equal(r.code, 0, `peerup ${path.join(' ')} --help: exit ${r.code}: ${r.stderr}`)
      for (const [name, description] of commandsOf(r.stdout.toString())) {
        if (name === 'help') continue
        seen.push([...path, name].join(' '))
        if (description === '') missing.push([...path, name].join(' '))
        if (depth < 3) await walk([...path, name], depth + 1)
      }
    }
    await walk([], 0)
    // the walk really went down into the groups
    for (const c of ['auth add', 'service list', 'names remove', 'relay names list', 'keytool validate']) assert.ok(seen.includes(c), `${c} not found in --help: ${seen.join(', ')}`)
    assert.deepEqual(missing, [], `commands without a description in --help: ${missing.join(', ')}`)
  })
})
