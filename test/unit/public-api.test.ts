/**
 * The public API (src/index.ts): wire-level internals stay out, and every
 * type that an exported signature names is exported too (checked with the
 * TypeScript compiler over the sources).
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as api from '../../src/index.js'

const here = dirname(fileURLToPath(import.meta.url))
/** The repository root (dist/test/unit → ../../..). */
const root = resolve(here, '../../..')

/** Types named by exported signatures (parameters, results, members, heritage) that src/index.ts does not export. */
function missingTypes (): string[] {
  const ts = createRequire(import.meta.url)('typescript')
  const cfg = ts.getParsedCommandLineOfConfigFile(join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })
  const program = ts.createProgram([join(root, 'src/index.ts')], cfg.options)
  const checker = program.getTypeChecker()
  const resolveAlias = (s: any): any => (s.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(s) : s
  const exported = new Set<any>(checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(join(root, 'src/index.ts')))).map(resolveAlias))
  const inSrc = (d: any): boolean => d.getSourceFile().fileName.startsWith(join(root, 'src') + '/')
  const missing = new Map<string, Set<string>>()
  const seen = new Set<any>()
  const isFn = (n: any): boolean => ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n)
  const visit = (node: any, via: string): void => {
    if (isFn(node)) {
      // the signature, not the body
      for (const p of node.parameters) if (p.type != null) visit(p.type, via)
      if (node.type != null) visit(node.type, via)
      node.typeParameters?.forEach((t: any) => { visit(t, via) })
      return
    }
    if (ts.isVariableDeclaration(node) || ts.isPropertyDeclaration(node)) { if (node.type != null) visit(node.type, via); return }
    if (ts.isClassDeclaration(node)) {
      for (const m of node.members) {
        if ((ts.getCombinedModifierFlags(m) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0) continue
        if (m.name != null && ts.isPrivateIdentifier(m.name)) continue
        visit(m, via)
      }
      node.heritageClauses?.forEach((h: any) => { visit(h, via) })
      return
    }
    if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node) || ts.isTypeQueryNode(node)) {
      const name = ts.isTypeReferenceNode(node) ? node.typeName : ts.isTypeQueryNode(node) ? node.exprName : node.expression
      const found = checker.getSymbolAtLocation(name)
      const s = found != null ? resolveAlias(found) : undefined
      const d = s?.declarations?.[0]
      if (d != null && inSrc(d) && (s.flags & ts.SymbolFlags.TypeParameter) === 0) {
        if (!exported.has(s)) {
          const key = `${s.name as string} (${relative(root, d.getSourceFile().fileName)})`
          if (!missing.has(key)) missing.set(key, new Set())
          missing.get(key)?.add(via)
        }
        walk(s, s.name)
      }
    }
    ts.forEachChild(node, (c: any) => { visit(c, via) })
  }
  const walk = (s: any, via: string): void => {
    if (seen.has(s)) return
    seen.add(s)
    for (const d of s.declarations ?? []) if (inSrc(d) && !ts.isSourceFile(d) && !ts.isModuleDeclaration(d)) visit(d, via)
  }
  for (const s of exported) walk(s, s.name)
  return [...missing].map(([k, v]) => `${k}, named by ${[...v].join(', ')}`).sort()
}

describe('public API', () => {
  it('keeps wire-level internals out', () => {
    const internals = [
      'internetChecksum', 'parseIpv4', 'icmpUnreachable', 'encodeFrames', 'createFrameDecoder', 'FRAME_HEADER', 'checkInbound', 'routeOutbound',
      'parseDnsQuery', 'encodeDnsAnswer', 'DNS_TYPE', 'DNS_RCODE', 'forwardDnsQuery', 'bindingRequest', 'bindingResponse', 'parseBindingRequest',
      'parseBindingSuccess', 'requestJson', 'serveJson', 'MAX_JSON_MESSAGE', 'HOP_PROTOCOL', 'registerState', 'nearest'
    ]
    assert.deepEqual(internals.filter(n => n in api), [])
  })

  it('exports what a node, a relay and a daemon are built from', () => {
    for (const n of ['createPeerupNode', 'loadConfig', 'createRelayServer', 'createControlServer', 'startGateways', 'startTunMode', 'createAuthorizedKeys', 'resolveChain', 'constants', 'PeerupError']) {
      assert.ok(n in api, `${n} exported`)
    }
  })

  it('exports every type its exported signatures name', { timeout: 120_000 }, () => {
    if (!existsSync(join(root, 'src/index.ts'))) { assert.fail(`sources not found at ${root}`) }
    assert.deepEqual(missingTypes(), [])
  })
})
