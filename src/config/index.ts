/**
 * `peerup/config`: the light half of the library, for the files of a node's
 * config dir: `config.yaml` (load, init, edit), `identity.key`,
 * `authorized_keys`, `names.yaml`, a relay's `names-registry.json` and the
 * gateways' `vip-table.json`. It loads no libp2p network module (only
 * `@libp2p/crypto` and `@libp2p/peer-id`, for keys and peer IDs), so the CLI's
 * file commands (`whoami`, `auth`, `names`, `service add`, `init`) start about
 * as fast as `peerup --version`. Everything here is also exported by `peerup`.
 *
 * @example
 *
 * ```ts
 * import { loadConfig, loadIdentityFile, peerIdOf, addAuthorizedKey } from 'peerup/config'
 *
 * const cfg = loadConfig('home.yaml')
 * console.log(peerIdOf(loadIdentityFile(cfg.path(cfg.config.identity.key_file))).toString())
 * addAuthorizedKey(cfg.path(cfg.config.security.authorized_keys_file), '12D3KooW…', { comment: 'laptop' })
 * ```
 */
export * from '../errors.js'
export * as constants from '../constants.js'
export { writeFileAtomic, type AtomicWriteOptions } from './atomic-write.js'
export { assertPrivateFile } from '../auth/file-mode.js'
export { generateIdentityFile, loadIdentityFile, peerIdOf, parsePeerId } from '../auth/identity.js'
export {
  parseAuthorizedKeys, formatProblems, addAuthorizedKey, removeAuthorizedKey, KNOWN_ATTRIBUTES,
  type AuthorizedKey, type AuthorizedKeysProblem, type ParsedAuthorizedKeys
} from '../auth/authorized-keys.js'
export { configSchema, namesFileSchema, relayAddressProblem, LABEL_RE, type PeerupConfig, type ServiceConfig, type NamesFile } from './schema.js'
export { loadYamlFile, nearest } from './yaml-file.js'
export { loadConfig, findConfigFile, peerupHome, type LoadedConfig } from './load.js'
export { editYamlFile, addServiceToConfig, removeServiceFromConfig, setServiceAuthorizedKeys, addNameToFile, removeNameFromFile } from './edit.js'
export { initConfigDir, type InitConfigOptions, type InitResult } from './init.js'
export { serviceProtocol, assertServiceName, parseHostPort } from '../services/service-registry.js'
export { parseName, type ParsedName } from '../naming/name.js'
export { readNamesFile, type LocalName } from '../naming/local-file-resolver.js'
export { readRegistryFile, removeFromRegistryFile, type RegisteredName } from '../relay/name-registry.js'
export { createVirtualIpTable, type VirtualIpTable, type VirtualIpTableInit, type VirtualIpEntry } from '../gateway/virtual-ip.js'
