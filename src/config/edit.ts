import { existsSync, readFileSync, statSync } from 'node:fs'
import { isMap, isSeq, parseDocument, type Document } from 'yaml'
import { writeFileAtomic } from './atomic-write.js'
import { ConfigError } from '../errors.js'
import { parsePeerId } from '../auth/identity.js'
import { parseName } from '../naming/name.js'
import { assertServiceName, parseHostPort } from '../services/service-registry.js'
import { configSchema, namesFileSchema } from './schema.js'
import { loadYamlFile } from './yaml-file.js'

/**
 * Edit a YAML file in place, keeping comments and layout: `edit` changes the
 * document, the result is validated against `schema` when given, and written
 * atomically with the file's current mode.
 */
export function editYamlFile (file: string, edit: (doc: Document) => void, schema?: typeof configSchema | typeof namesFileSchema): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new ConfigError(`${file}: invalid YAML: ${doc.errors[0].message.split('\n')[0]}`, { file })
  edit(doc)
  // a collection that gained entries reads better in block style than as `{ … }`
  const unflow = (node: unknown): void => {
    if (isMap(node) || isSeq(node)) {
      if (node.items.length > 0) node.flow = false
      for (const it of node.items as any[]) unflow(isMap(node) ? it.value : it)
    }
  }
  unflow(doc.contents)
  const out = doc.toString()
  if (schema != null) loadYamlFile(file, schema, out)
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o644
  writeFileAtomic(file, out, { mode })
}

/** Add (or replace) a service in a config file. */
export function addServiceToConfig (file: string, name: string, localAddress: string, options: { authorizedKeys?: string, protocol?: string } = {}): void {
  assertServiceName(name)
  parseHostPort(localAddress)
  editYamlFile(file, doc => {
    const svc: Record<string, unknown> = { local_address: localAddress, enabled: true }
    if (options.authorizedKeys != null) svc.authorized_keys = options.authorizedKeys
    if (options.protocol != null) svc.protocol = options.protocol
    if (doc.get('services') == null) doc.set('services', doc.createNode({}))
    doc.setIn(['services', name], doc.createNode(svc))
  }, configSchema)
}

/** Remove a service from a config file. Returns false when absent. */
export function removeServiceFromConfig (file: string, name: string): boolean {
  let removed = false
  editYamlFile(file, doc => { removed = doc.deleteIn(['services', name]) }, configSchema)
  return removed
}

/** Set the per-service authorized_keys file of a service. */
export function setServiceAuthorizedKeys (file: string, name: string, authorizedKeys: string): void {
  editYamlFile(file, doc => {
    if (!doc.hasIn(['services', name])) throw new ConfigError(`${file}: no service named "${name}"`, { file, keyPath: `services.${name}` })
    doc.setIn(['services', name, 'authorized_keys'], authorizedKeys)
  }, configSchema)
}

/** Add (or replace) a name in a names file. */
export function addNameToFile (file: string, name: string, peerId: string, addrs: string[] = []): void {
  const canonical = parseName(name).canonical
  const id = parsePeerId(peerId).toString()
  editYamlFile(file, doc => {
    if (doc.get('names') == null) doc.set('names', doc.createNode({}))
    doc.setIn(['names', canonical], addrs.length > 0 ? doc.createNode({ peer_id: id, addrs }) : id)
  }, namesFileSchema)
}

/** Remove a name from a names file. Returns false when absent. */
export function removeNameFromFile (file: string, name: string): boolean {
  const canonical = parseName(name).canonical
  let removed = false
  editYamlFile(file, doc => { removed = doc.deleteIn(['names', canonical]) }, namesFileSchema)
  return removed
}
