import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateIdentityFile, loadIdentityFile, parsePeerId, peerIdOf, writeFileAtomic } from '../../src/index.js'

describe('identity file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-unit-id-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('is written 0600, in libp2p protobuf form, and loads back to the same peer ID', async () => {
    const file = join(dir, 'identity.key')
    const key = await generateIdentityFile(file)
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const bytes = readFileSync(file)
    // PrivateKey protobuf: field 1 (KeyType) = 1 (Ed25519), field 2 (Data) of 64 bytes
    assert.equal(bytes.length, 68)
    assert.deepEqual([...bytes.subarray(0, 4)], [0x08, 0x01, 0x12, 0x40])
    assert.deepEqual(bytes, Buffer.from(privateKeyToProtobuf(key)))
    const viaCrypto = privateKeyFromProtobuf(bytes)
    assert.equal(viaCrypto.type, 'Ed25519')
    const loaded = loadIdentityFile(file)
    assert.equal(peerIdOf(loaded).toString(), peerIdOf(key).toString())
    assert.equal(peerIdFromPrivateKey(viaCrypto).toString(), peerIdOf(key).toString())
    assert.match(peerIdOf(key).toString(), /^12D3KooW/)
  })

  it('refuses to overwrite an existing file unless asked', async () => {
    const file = join(dir, 'keep.key')
    const first = await generateIdentityFile(file)
    const before = readFileSync(file)
    await assert.rejects(generateIdentityFile(file), { name: 'AlreadyExistsError' })
    assert.deepEqual(readFileSync(file), before)
    const second = await generateIdentityFile(file, { overwrite: true })
    assert.notEqual(peerIdOf(second).toString(), peerIdOf(first).toString())
    assert.equal(peerIdOf(loadIdentityFile(file)).toString(), peerIdOf(second).toString())
    assert.equal(statSync(file).mode & 0o777, 0o600)
  })

  it('refuses a key readable by group or others, with a chmod hint', async () => {
    const file = join(dir, 'open.key')
    await generateIdentityFile(file)
    for (const mode of [0o644, 0o640, 0o604]) {
      chmodSync(file, mode)
      assert.throws(() => loadIdentityFile(file), (err: any) => {
        assert.equal(err.name, 'InsecurePermissionsError')
        assert.equal(err.message.includes(`chmod 600 ${file}`), true, err.message)
        return true
      })
    }
    chmodSync(file, 0o400)
    assert.doesNotThrow(() => loadIdentityFile(file))
  })

  it('rejects a file that is not a libp2p key', () => {
    const file = join(dir, 'garbage.key')
    writeFileSync(file, 'hello, not a key\n', { mode: 0o600 })
    assert.throws(() => loadIdentityFile(file), (err: any) => err.name === 'InvalidKeyFileError' && err.message.startsWith(`${file}: not a libp2p private key`))
  })

  it('parsePeerId rejects junk with the offending text', () => {
    assert.throws(() => parsePeerId('12D3KooWnope'), (err: any) => err.name === 'InvalidPeerIdError' && err.message.includes('"12D3KooWnope"'))
  })
})

describe('writeFileAtomic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'peerup-unit-atomic-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  const leftovers = (): string[] => readdirSync(dir).filter(f => f.endsWith('.tmp'))

  it('creates with the requested mode (default 0600)', () => {
    const a = join(dir, 'a')
    writeFileAtomic(a, 'one')
    assert.equal(readFileSync(a, 'utf8'), 'one')
    assert.equal(statSync(a).mode & 0o777, 0o600)
    const b = join(dir, 'b')
    writeFileAtomic(b, new Uint8Array([1, 2, 3]), { mode: 0o644 })
    assert.deepEqual([...readFileSync(b)], [1, 2, 3])
    assert.equal(statSync(b).mode & 0o777, 0o644)
    assert.deepEqual(leftovers(), [])
  })

  it('overwrite: false leaves an existing file untouched and no temp file behind', () => {
    const f = join(dir, 'c')
    writeFileAtomic(f, 'original')
    assert.throws(() => writeFileAtomic(f, 'replacement', { overwrite: false }), (err: any) => err.name === 'AlreadyExistsError' && err.message.includes(f))
    assert.equal(readFileSync(f, 'utf8'), 'original')
    assert.deepEqual(leftovers(), [])
  })

  it('overwrite (default) replaces the file as a new inode', () => {
    const f = join(dir, 'd')
    writeFileAtomic(f, 'v1')
    const ino = statSync(f).ino
    writeFileAtomic(f, 'v2')
    assert.equal(readFileSync(f, 'utf8'), 'v2')
    assert.notEqual(statSync(f).ino, ino)
    assert.deepEqual(leftovers(), [])
  })

  it('overwrite: false creates a missing file', () => {
    const f = join(dir, 'e')
    writeFileAtomic(f, 'fresh', { overwrite: false })
    assert.equal(readFileSync(f, 'utf8'), 'fresh')
    assert.deepEqual(leftovers(), [])
  })

  it('a failing write leaves no temp file', () => {
    assert.throws(() => writeFileAtomic(join(dir, 'no-such-dir', 'f'), 'x'))
    assert.deepEqual(leftovers(), [])
  })
})
