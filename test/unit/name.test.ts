import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseName } from '../../src/index.js'

describe('parseName', () => {
  it('is case-insensitive and strips .p2p and a trailing dot', () => {
    assert.deepEqual(parseName('Home.Grewal.P2P'), { canonical: 'home.grewal', host: 'home', network: 'grewal' })
    assert.deepEqual(parseName('HOME.grewal'), { canonical: 'home.grewal', host: 'home', network: 'grewal' })
    assert.deepEqual(parseName('home.p2p'), { canonical: 'home', host: 'home', network: undefined })
    assert.deepEqual(parseName('laptop'), { canonical: 'laptop', host: 'laptop', network: undefined })
    assert.equal(parseName('home.grewal.').canonical, 'home.grewal')
    assert.equal(parseName('  nas-2.home  ').canonical, 'nas-2.home')
  })

  it('accepts a 63-character label', () => {
    const l = 'a'.repeat(63)
    assert.equal(parseName(l).host, l)
  })

  for (const bad of ['a/b', '-x', 'x-', 'a'.repeat(64), 'a.b.c', '', '   ', 'a..b', '.p2p', 'ho me', 'a_b', 'ssh;rm', 'home.grewal.p2p.p2p', 'ä', '../etc']) {
    it(`rejects ${JSON.stringify(bad.length > 20 ? bad.slice(0, 10) + '…(' + bad.length + ')' : bad)}`, () => {
      assert.throws(() => parseName(bad), (err: any) => {
        assert.equal(err.name, 'InvalidNameError')
        assert.match(err.message, /^invalid name /)
        return true
      })
    })
  }
})
