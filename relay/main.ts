#!/usr/bin/env node
/**
 * Standalone relay entrypoint for a VPS: `node dist/relay/main.js [--config relay.yaml]`.
 * Same as `peerup relay serve`: a thin wrapper over the library's
 * createRelayServer, with the CLI's exit codes (cli/exit-codes.ts, the one table).
 */
import '../src/polyfill.js'
import { exitCodeFor } from '../cli/exit-codes.js'
import { createRelayServer, loadConfig, UsageError } from '../src/index.js'

const i = process.argv.indexOf('--config')
try {
  const cfg = loadConfig(i > 0 ? process.argv[i + 1] : undefined)
  if (cfg.config.role !== 'relay') throw new UsageError(`${cfg.file}: role is "${cfg.config.role}"; the relay needs role: relay`)
  const server = await createRelayServer({ config: cfg, onNotice: (line) => { process.stderr.write(line + '\n') } })
  await server.start()
  process.stdout.write(`peerup relay ${server.peerId}\n${server.multiaddrs().join('\n')}\nready\n`)
  const stop = (): void => { void server.stop().finally(() => process.exit(0)) }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.on('SIGHUP', () => { server.reloadAuth() })
} catch (err: any) {
  process.stderr.write(`peerup-relay: ${err?.message ?? String(err)}\n`)
  process.exit(exitCodeFor(err))
}
