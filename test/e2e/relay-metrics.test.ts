/**
 * The relay's Prometheus endpoint (`relay.metrics_listen`), scraped with
 * real curl: reservations, circuits and bytes move as a relayed tunnel runs.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes, createHash } from 'node:crypto'
import { editYamlFile } from '../../src/index.js'
import { echoServer, freePort, Harness, startMesh, type Mesh } from '../fixtures/mesh.js'

async function curl (url: string): Promise<{ code: number, body: string }> {
  return await new Promise((resolve) => {
    execFile('curl', ['-s', '-m', '5', '-w', '\n%{http_code}', url], (_err, stdout) => {
      const i = stdout.lastIndexOf('\n')
      resolve({ code: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) })
    })
  })
}

function sample (text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  assert.ok(m != null, `${name} missing in:\n${text}`)
  return Number(m[1])
}

describe('relay metrics', () => {
  const h = new Harness()
  let mesh: Mesh
  let port: number
  let url: string

  before(async () => {
    port = await freePort()
    url = `http://127.0.0.1:${port}/metrics`
    const echo = await echoServer(h)
    mesh = await startMesh(h, {
      services: { echo: echo.port },
      directAddr: false,
      beforeStart: ({ relay }) => { editYamlFile(relay.config, doc => { doc.setIn(['relay', 'metrics_listen'], `127.0.0.1:${port}`) }) }
    })
  })
  after(async () => { await h.cleanup() })

  it('serves reservations, circuits and relayed bytes that follow a relayed tunnel', async () => {
    assert.match(mesh.relayProc.stderr(), new RegExp(`relay: metrics on http://127\\.0\\.0\\.1:${port}/metrics`))
    const before = await curl(url)
    assert.equal(before.code, 200)
    assert.equal(sample(before.body, 'peerup_relay_reservations'), 1)
    assert.match(before.body, /^# TYPE peerup_relay_circuits_opened_total counter$/m)
    const opened = sample(before.body, 'peerup_relay_circuits_opened_total')
    const data = randomBytes(2 * 1024 * 1024)
    const r = await h.run(['--config', mesh.client.config, 'nc', 'home.grewal', 'echo', '--path', 'relay', '--no-daemon'], { input: data, timeoutMs: 30_000 })
    assert.equal(r.code, 0, r.stderr)
    assert.equal(createHash('sha256').update(r.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'))
    const after = await curl(url)
    assert.ok(sample(after.body, 'peerup_relay_circuits_opened_total') >= opened + 1, after.body)
    assert.ok(sample(after.body, 'peerup_relay_relayed_bytes_total') >= 2 * data.length, after.body)
    assert.ok(sample(after.body, 'peerup_process_resident_memory_bytes') > 10 * 1024 * 1024)
    assert.equal((await curl(`http://127.0.0.1:${port}/v1/status`)).code, 404)
  })

  it('a metrics address in use: exit 2 naming the field', async () => {
    const relay2 = await h.initNode('relay2', 'relay', { listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`] })
    editYamlFile(relay2.config, doc => { doc.setIn(['relay', 'metrics_listen'], `127.0.0.1:${port}`); doc.setIn(['relay', 'status_socket'], false) })
    const r = await h.run(['--config', relay2.config, 'relay', 'serve'], { timeoutMs: 30_000 })
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /relay\.metrics_listen 127\.0\.0\.1:\d+: .*EADDRINUSE/)
  })
})
