import { readFileSync } from 'node:fs'
import { LineCounter, parseDocument, isMap, isScalar, isSeq } from 'yaml'
import { ConfigError } from '../errors.js'
import type { z } from 'zod'

/** Levenshtein distance, for "did you mean" hints. */
function distance (a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]
    dp[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return dp[b.length]
}

/** The nearest of `candidates` to `word`, if it is close enough to be a typo. */
export function nearest (word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase())
    if (d < bestD) { bestD = d; best = c }
  }
  return best != null && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}

/** Keys a zod object schema accepts at `path`, for typo hints. */
function keysAt (schema: z.ZodType, path: PropertyKey[]): string[] {
  let s: any = schema
  for (const p of path) {
    while (s?.def?.innerType != null) s = s.def.innerType
    if (s?.def?.type === 'object') s = s.def.shape[p as string]
    else if (s?.def?.type === 'record') s = s.def.valueType
    else if (s?.def?.type === 'array') s = s.def.element
    else return []
  }
  while (s?.def?.innerType != null) s = s.def.innerType
  return s?.def?.type === 'object' ? Object.keys(s.def.shape) : []
}

/**
 * Read and validate a YAML file against a zod schema. Every error names the
 * file, the line and the key path, and suggests the nearest valid key for a
 * typo; unknown keys are errors.
 */
export function loadYamlFile<S extends z.ZodType> (file: string, schema: S, text?: string): z.infer<S> {
  let source: string
  try {
    source = text ?? readFileSync(file, 'utf8')
  } catch (err: any) {
    throw new ConfigError(`${file}: cannot read: ${err.message}`, { file }, { cause: err })
  }
  const lineCounter = new LineCounter()
  const doc = parseDocument(source, { lineCounter, prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    const e = doc.errors[0]
    const line = lineCounter.linePos(e.pos[0]).line
    throw new ConfigError(`${file}:${line}: invalid YAML: ${e.message.split('\n')[0]}`, { file, line })
  }
  const value = doc.toJS() ?? {}
  const result = schema.safeParse(value)
  if (result.success) return result.data
  // a misspelt key also makes the key it was meant to be "missing": report the typo, it is the cause
  const issue = result.error.issues.find(i => i.code === 'unrecognized_keys') ?? result.error.issues[0]
  let path = issue.path as PropertyKey[]
  let message = issue.message
  if (issue.code === 'invalid_type' && /received undefined$/.test(message) && path.length > 0) {
    message = `missing required key "${String(path[path.length - 1])}"`
  }
  if (issue.code === 'unrecognized_keys') {
    const key = (issue as any).keys[0] as string
    const hint = nearest(key, keysAt(schema, path))
    path = [...path, key]
    message = `unknown key "${key}"${hint != null ? ` (did you mean "${hint}"?)` : ''}`
  }
  const keyPath = path.map(String).join('.')
  // the line of the deepest key (or sequence item) on the path that exists in the file
  const lineOf = (n: any): number | undefined => n?.range != null ? lineCounter.linePos(n.range[0]).line : undefined
  let node: any = doc.contents
  let line = lineOf(node)
  for (const p of path) {
    if (isMap(node)) {
      const pair: any = node.items.find((it: any) => String(isScalar(it.key) ? it.key.value : it.key) === String(p))
      if (pair == null) break
      line = lineOf(pair.key) ?? line
      node = pair.value
    } else if (isSeq(node)) {
      const item: any = node.items[Number(p)]
      if (item == null) break
      line = lineOf(item) ?? line
      node = item
    } else {
      break
    }
  }
  const where = line != null ? `${file}:${line}` : file
  throw new ConfigError(`${where}: ${keyPath === '' ? '' : `${keyPath}: `}${message}`, { file, line, keyPath })
}

/**
 * The line of the key (or sequence item) at `path` in a YAML file, or of the
 * deepest part of it that exists; undefined if the file cannot be read.
 * For errors found after load (a listen port in use) that must still name
 * the line.
 */
export function lineOfKey (file: string, path: PropertyKey[]): number | undefined {
  let source: string
  try { source = readFileSync(file, 'utf8') } catch { return undefined }
  const lineCounter = new LineCounter()
  const doc = parseDocument(source, { lineCounter, prettyErrors: false })
  let node: any = doc.contents
  let line: number | undefined
  for (const p of path) {
    const item: any = isMap(node)
      ? node.items.find((it: any) => String(isScalar(it.key) ? it.key.value : it.key) === String(p))
      : isSeq(node) ? node.items[Number(p)] : undefined
    if (item == null) break
    const at = isMap(node) ? item.key?.range : item.range
    if (at != null) line = lineCounter.linePos(at[0]).line
    node = isMap(node) ? item.value : item
  }
  return line
}
