import { LABEL_RE } from '../config/schema.js'
import { InvalidNameError } from '../errors.js'

/** A parsed peerup name: `<host>[.<network>][.p2p]`. */
export interface ParsedName {
  /** Lower-cased canonical form without the `.p2p` suffix. */
  canonical: string
  host: string
  network?: string
}

/**
 * Parse and validate a name, case-insensitively. Labels must be DNS labels,
 * so a name can never inject into a protocol ID or a path.
 */
export function parseName (text: string): ParsedName {
  const lower = text.trim().toLowerCase().replace(/\.$/, '')
  if (lower.length === 0 || lower.length > 253) throw new InvalidNameError(`invalid name "${text}": empty or longer than 253 characters`)
  const labels = lower.split('.')
  if (labels[labels.length - 1] === 'p2p' && labels.length > 1) labels.pop()
  if (labels.length > 2) throw new InvalidNameError(`invalid name "${text}": expected <host>.<network>[.p2p]`)
  for (const l of labels) {
    if (!LABEL_RE.test(l)) throw new InvalidNameError(`invalid name "${text}": "${l}" is not a DNS label (a-z, 0-9, "-", 1-63 characters)`)
  }
  return { canonical: labels.join('.'), host: labels[0], network: labels[1] }
}
