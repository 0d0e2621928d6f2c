#!/usr/bin/env node
/**
 * Standalone relay entrypoint for a VPS: `node dist/relay/main.js [--config relay.yaml]`.
 * Same as `peerup relay serve`; a thin wrapper over the library's createRelayServer.
 */
import '../src/polyfill.js'
import { createRelayServer, loadConfig } from '../src/index.js'

const i = process.argv.indexOf('--config')
try {
  const cfg = loadConfig(i > 0 ? process.argv[i + 1] : undefined)
  const server = await createRelayServer({ config: cfg })
  await server.start()
  process.stdout.write(`peerup relay ${server.peerId}\n${server.multiaddrs().join('\n')}\nready\n`)
  const stop = (): void => { void server.stop().finally(() => process.exit(0)) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('SIGHUP', () => { server.reloadAuth() })
} catch (err: any) {
  process.stderr.write(`peerup-relay: ${err.message}\n`)
  process.exit(err.name === 'ConfigError' || err.name === 'InsecurePermissionsError' ? 2 : 1)
}
