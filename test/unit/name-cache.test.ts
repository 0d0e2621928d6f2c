import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cachedResolver, resolveChain, InvalidNameError, NameNotFoundError } from '../../src/index.js'
import type { NameResolver, ResolvedName } from '../../src/index.js'

const PEER_A = '12D3KooWHWo5jmVt5pbDsnRJF8Ud4KD2QbpgxMbeyHZgPZEeP8Ke'
const PEER_B = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'

/** A fake tier answering from a mutable table, counting every call. */
function fakeTier (label: string, table: Record<string, string | undefined> = {}, extra: Partial<NameResolver> = {}): NameResolver & { calls: string[], table: Record<string, string | undefined> } {
  const calls: string[] = []
  return {
    label,
    calls,
    table,
    ...extra,
    async resolve (name: string): Promise<ResolvedName | undefined> {
      calls.push(name)
      const peerId = table[name.toLowerCase()]
      if (peerId == null) return undefined
      return { name, peerId, addrs: ['/ip4/127.0.0.1/tcp/4001'], source: 'network', via: `${label} grewal` }
    }
  }
}

/** A manual clock. */
function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

describe('cachedResolver', () => {
  const root = mkdtempSync(join(tmpdir(), 'peerup-name-cache-'))
  after(() => { rmSync(root, { recursive: true, force: true }) })

  it('reuses a positive answer within the TTL (cached: true) and asks again once it expires', async () => {
    const c = clock()
    const inner = fakeTier('relay', { 'home.grewal': PEER_A })
    const r = cachedResolver(inner, { ttl: 1000, negativeTtl: 100, now: c.now })

    const first = await r.resolve('home.grewal')
    assert.equal(first?.peerId, PEER_A)
    assert.notEqual(first?.cached, true)
    assert.equal(inner.calls.length, 1)

    c.advance(999)
    const second = await r.resolve('home.grewal')
    assert.equal(inner.calls.length, 1, 'within the TTL the inner tier is not asked')
    assert.equal(second?.cached, true)
    assert.equal(second?.peerId, PEER_A)
    assert.equal(second?.source, 'network')
    assert.equal(second?.via, 'relay grewal')
    assert.deepEqual(second?.addrs, ['/ip4/127.0.0.1/tcp/4001'])

    // case-insensitive key; the answer carries the name as asked
    const upper = await r.resolve('HOME.Grewal')
    assert.equal(inner.calls.length, 1)
    assert.equal(upper?.name, 'HOME.Grewal')
    assert.equal(upper?.cached, true)

    // expiry: the binding changed upstream; after the TTL the new one is seen
    inner.table['home.grewal'] = PEER_B
    c.advance(1)
    const third = await r.resolve('home.grewal')
    assert.equal(inner.calls.length, 2, 'at the TTL the inner tier is asked again')
    assert.equal(third?.peerId, PEER_B)
    assert.notEqual(third?.cached, true)

    // and the fresh answer is cached again
    c.advance(500)
    assert.equal((await r.resolve('home.grewal'))?.peerId, PEER_B)
    assert.equal(inner.calls.length, 2)
  })

  it('remembers a miss for negativeTtl, then asks again', async () => {
    const c = clock()
    const inner = fakeTier('relay', {})
    const r = cachedResolver(inner, { ttl: 60_000, negativeTtl: 200, now: c.now })

    assert.equal(await r.resolve('nope.grewal'), undefined)
    assert.equal(inner.calls.length, 1)
    c.advance(199)
    assert.equal(await r.resolve('nope.grewal'), undefined)
    assert.equal(inner.calls.length, 1, 'a remembered miss does not ask the inner tier')

    // the name appears upstream; the negative entry hides it until it expires
    inner.table['nope.grewal'] = PEER_A
    assert.equal(await r.resolve('nope.grewal'), undefined)
    assert.equal(inner.calls.length, 1)

    c.advance(1)
    const found = await r.resolve('nope.grewal')
    assert.equal(inner.calls.length, 2)
    assert.equal(found?.peerId, PEER_A)
    // positive now, so the long TTL applies
    c.advance(10_000)
    assert.equal((await r.resolve('nope.grewal'))?.cached, true)
    assert.equal(inner.calls.length, 2)
  })

  it('a negative TTL does not shorten a positive entry and vice versa', async () => {
    const c = clock()
    const inner = fakeTier('relay', { 'home.grewal': PEER_A })
    const r = cachedResolver(inner, { ttl: 300, negativeTtl: 5000, now: c.now })
    await r.resolve('home.grewal')
    await r.resolve('gone.grewal')
    c.advance(400)
    await r.resolve('home.grewal')
    await r.resolve('gone.grewal')
    assert.deepEqual(inner.calls, ['home.grewal', 'gone.grewal', 'home.grewal'])
  })

  it('persists through the file option: a second instance reads the first one\'s answers', async () => {
    const c = clock()
    const file = join(root, 'cfg', '.cache', 'names.json')
    const inner1 = fakeTier('relay', { 'home.grewal': PEER_A })
    const r1 = cachedResolver(inner1, { ttl: 1000, negativeTtl: 500, file, now: c.now })
    await r1.resolve('home.grewal')
    await r1.resolve('nope.grewal')
    assert.equal(inner1.calls.length, 2)
    assert.ok(existsSync(file), 'cache file written (parent dirs created)')
    assert.equal(statSync(file).mode & 0o077, 0, 'cache file is private')
    const onDisk = JSON.parse(readFileSync(file, 'utf8'))
    assert.equal(onDisk['home.grewal'].answer.peerId, PEER_A)
    assert.equal(onDisk['nope.grewal'].answer, null)

    // a new process (new instance, same file) with an inner tier that would answer differently
    c.advance(100)
    const inner2 = fakeTier('relay', { 'home.grewal': PEER_B, 'nope.grewal': PEER_B })
    const r2 = cachedResolver(inner2, { ttl: 1000, negativeTtl: 500, file, now: c.now })
    const hit = await r2.resolve('home.grewal')
    assert.equal(hit?.peerId, PEER_A)
    assert.equal(hit?.cached, true)
    assert.equal(await r2.resolve('nope.grewal'), undefined)
    assert.equal(inner2.calls.length, 0, 'both answers came from the file')

    // the persisted timestamps are honoured: expiry happens relative to the first write
    c.advance(400)
    assert.equal((await r2.resolve('nope.grewal'))?.peerId, PEER_B)
    assert.deepEqual(inner2.calls, ['nope.grewal'])
    c.advance(500)
    assert.equal((await r2.resolve('home.grewal'))?.peerId, PEER_B)
    assert.deepEqual(inner2.calls, ['nope.grewal', 'home.grewal'])

    // clear() empties the file too
    r2.clear()
    const inner3 = fakeTier('relay', { 'home.grewal': PEER_A })
    const r3 = cachedResolver(inner3, { ttl: 1000, file, now: c.now })
    assert.equal((await r3.resolve('home.grewal'))?.peerId, PEER_A)
    assert.equal(inner3.calls.length, 1)
  })

  it('a corrupt cache file is ignored, not fatal', async () => {
    const file = join(root, 'corrupt.json')
    writeFileSync(file, '{ not json', { mode: 0o600 })
    const inner = fakeTier('relay', { 'home.grewal': PEER_A })
    const r = cachedResolver(inner, { file })
    assert.equal((await r.resolve('home.grewal'))?.peerId, PEER_A)
    assert.equal(inner.calls.length, 1)
    assert.equal(JSON.parse(readFileSync(file, 'utf8'))['home.grewal'].answer.peerId, PEER_A)
  })

  it('keeps the inner tier\'s label and labelFor', () => {
    const inner = fakeTier('relay', {}, { labelFor: (n: string) => `relay ${n.split('.')[1]}` })
    const r = cachedResolver(inner)
    assert.equal(r.label, 'relay')
    assert.equal(r.labelFor?.('x.grewal'), 'relay grewal')
  })
})

describe('resolveChain', () => {
  it('the first tier with an answer wins; later tiers are not asked', async () => {
    const t1 = fakeTier('names.yaml', {})
    const t2 = fakeTier('relay', { 'home.grewal': PEER_A }, { labelFor: () => 'relay grewal' })
    const t3 = fakeTier('peer ID', { 'home.grewal': PEER_B })
    const r = await resolveChain('home.grewal', [t1, t2, t3])
    assert.equal(r.peerId, PEER_A)
    assert.equal(r.via, 'relay grewal')
    assert.deepEqual(r.tried, ['names.yaml', 'relay grewal'])
    assert.deepEqual(t1.calls, ['home.grewal'])
    assert.deepEqual(t2.calls, ['home.grewal'])
    assert.deepEqual(t3.calls, [])

    t1.table['home.grewal'] = PEER_B
    const r2 = await resolveChain('home.grewal', [t1, t2, t3])
    assert.equal(r2.peerId, PEER_B)
    assert.deepEqual(r2.tried, ['names.yaml'])
    assert.equal(t2.calls.length, 1)
  })

  it('not found: NameNotFoundError lists every tier by its labelFor', async () => {
    const tiers = [
      fakeTier('names.yaml'),
      fakeTier('relay', {}, { labelFor: (n: string) => `relay ${n.split('.')[1]}` }),
      fakeTier('peer ID')
    ]
    await assert.rejects(resolveChain('nope.grewal', tiers), (err: any) => {
      assert.ok(err instanceof NameNotFoundError)
      assert.equal(err.name, 'NameNotFoundError')
      assert.deepEqual(err.tried, ['names.yaml', 'relay grewal', 'peer ID'])
      assert.equal(err.message, 'name not found: nope.grewal (tried: names.yaml, relay grewal, peer ID)')
      return true
    })
  })

  it('a tier that fails is skipped; a labelFor that throws falls back to the label', async () => {
    const broken: NameResolver = { label: 'broken', labelFor: () => { throw new Error('bad') }, resolve: async () => { throw new Error('relay down') } }
    const good = fakeTier('peer ID', { x: PEER_A })
    const r = await resolveChain('x', [broken, good])
    assert.equal(r.peerId, PEER_A)
    assert.deepEqual(r.tried, ['broken', 'peer ID'])
  })

  it('InvalidNameError from a tier propagates and stops the chain', async () => {
    const strict: NameResolver = { label: 'names.yaml', resolve: async (n) => { throw new InvalidNameError(`invalid name "${n}"`) } }
    const later = fakeTier('relay', { 'a/b': PEER_A })
    await assert.rejects(resolveChain('a/b', [strict, later]), (err: any) => {
      assert.equal(err.name, 'InvalidNameError')
      assert.ok(err instanceof InvalidNameError)
      return true
    })
    assert.deepEqual(later.calls, [])
  })

  it('AbortError propagates too', async () => {
    const aborting: NameResolver = { label: 'relay', resolve: async () => { const e = new Error('aborted'); e.name = 'AbortError'; throw e } }
    const later = fakeTier('peer ID', { x: PEER_A })
    await assert.rejects(resolveChain('x', [aborting, later]), { name: 'AbortError' })
    assert.deepEqual(later.calls, [])
  })
})
