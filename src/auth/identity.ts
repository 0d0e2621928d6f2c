import { readFileSync } from 'node:fs'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { writeFileAtomic } from '../config/atomic-write.js'
import { InvalidKeyFileError, InvalidPeerIdError } from '../errors.js'
import { assertPrivateFile } from './file-mode.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'

/**
 * Generate an Ed25519 identity and write it to `path` in libp2p protobuf form
 * (the same bytes Go libp2p's `crypto.MarshalPrivateKey` writes, so key files
 * move between peer-up and peerup), atomically and with mode 0600.
 *
 * @throws AlreadyExistsError when the file exists and `overwrite` is not set
 */
export async function generateIdentityFile (path: string, options: { overwrite?: boolean } = {}): Promise<PrivateKey> {
  const key = await generateIdentity()
  writeFileAtomic(path, privateKeyToProtobuf(key), { mode: 0o600, overwrite: options.overwrite ?? false })
  return key
}

/** Generate an Ed25519 identity in memory (for `createPeerupNode({ privateKey })`; nothing is written). */
export async function generateIdentity (): Promise<PrivateKey> {
  return await generateKeyPair('Ed25519')
}

/**
 * Load a private key file. Refuses files that group or others can access
 * ({@link InsecurePermissionsError}) and files that are not a libp2p
 * protobuf private key ({@link InvalidKeyFileError}).
 */
export function loadIdentityFile (path: string): PrivateKey {
  assertPrivateFile(path)
  const bytes = readFileSync(path)
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err: any) {
    throw new InvalidKeyFileError(`${path}: not a libp2p private key (${err.message})`, { cause: err })
  }
}

/** The peer ID of a private key. */
export function peerIdOf (key: PrivateKey): PeerId {
  return peerIdFromPrivateKey(key)
}

/**
 * Parse a peer ID string (base58btc `12D3KooW…`/`Qm…` or CIDv1), throwing
 * {@link InvalidPeerIdError} with the offending text.
 */
export function parsePeerId (text: string): PeerId {
  try {
    const id = peerIdFromString(text)
    if (id.type === 'url') throw new Error('URL peer IDs are not supported')
    return id
  } catch (err: any) {
    throw new InvalidPeerIdError(`invalid peer ID "${text}": ${err.message}`, { cause: err })
  }
}
