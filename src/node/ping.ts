/** `PeerupNode.ping`: one echo over the path the next tunnel would take. */
import { randomBytes } from 'node:crypto'
import { PING_PAYLOAD_BYTES, PING_PROTOCOL, PING_TIMEOUT } from '../constants.js'
import { UnreachableError } from '../errors.js'
import type { Connector } from './connector.js'
import type { NodeTunnels } from './tunnels.js'
import type { TunnelOptions } from './peerup-node.js'
import type { PathInfo } from '../paths/path-facts.js'
import type { Stream } from '@libp2p/interface'

/** Send one ping payload on `stream` and wait for its echo. */
async function echo (stream: Stream, payload: Uint8Array): Promise<Uint8Array> {
  return await new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let have = 0
    const timer = setTimeout(() => { reject(new UnreachableError('ping timed out')) }, PING_TIMEOUT)
    stream.addEventListener('message', (evt: any) => {
      const b = evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()
      chunks.push(b)
      have += b.byteLength
      if (have >= payload.byteLength) { clearTimeout(timer); resolve(Buffer.concat(chunks).subarray(0, payload.byteLength)) }
    })
    stream.addEventListener('close', (evt: any) => { clearTimeout(timer); if (have < payload.byteLength) reject(new UnreachableError(`ping stream closed${evt.error != null ? `: ${evt.error.message}` : ''}`)) })
    stream.send(payload)
  })
}

/** Round-trip time to `target` over the chosen path. */
export async function pingPeer (parts: { connector: Connector, tunnels: NodeTunnels }, target: string, options: TunnelOptions = {}): Promise<{ rtt: number, path: PathInfo, peerId: string }> {
  const first = await parts.connector.connect(target, options)
  const { peerId } = first
  const { stream, path } = await parts.tunnels.newStream(target, options, PING_PROTOCOL, first)
  const payload = randomBytes(PING_PAYLOAD_BYTES)
  const start = performance.now()
  const echoed = await echo(stream, payload)
  const rtt = performance.now() - start
  await stream.close().catch(() => {})
  if (!Buffer.from(echoed).equals(payload)) throw new UnreachableError('ping reply did not match')
  return { rtt, path, peerId }
}
