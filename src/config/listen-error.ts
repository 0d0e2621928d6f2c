import { ConfigError } from '../errors.js'
import { lineOfKey } from './yaml-file.js'
import type { LoadedConfig } from './load.js'

/**
 * Turn libp2p's failure to listen (`UnsupportedListenAddressesError`, a
 * multi-line message with stacks) into one line naming the config file, the
 * line of `network.listen` and what to do: with a fixed port (what `peerup
 * init` writes), another program on that port is the usual cause. Any other
 * error is returned unchanged.
 */
export function explainListenError (err: any, loaded: LoadedConfig, listen: string[]): Error {
  if (err?.name !== 'UnsupportedListenAddressesError') return err
  const text = String(err.message ?? '')
  const failed = [...text.matchAll(/^\s+(\/\S+): (?:Error: )?(.+)$/gm)].map(m => `${m[1]} (${m[2].trim()})`)
  const inUse = /EADDRINUSE/.test(text)
  const fromConfig = loaded.config.network.listen != null
  const line = fromConfig ? lineOfKey(loaded.file, ['network', 'listen']) : undefined
  const where = `${loaded.file}${line != null ? `:${line}` : ''}: network.listen`
  const hint = inUse
    ? 'another program (a second peerup daemon for another config, an IPFS node) holds that port; stop it, or give this node another port in network.listen, e.g. /ip4/0.0.0.0/tcp/4002'
    : 'check the addresses in network.listen (an address this machine does not have?)'
  return new ConfigError(`${where}: cannot listen on ${failed.length > 0 ? failed.join(', ') : listen.join(', ')}: ${hint}`, { file: loaded.file, line, keyPath: 'network.listen' }, { cause: err })
}
