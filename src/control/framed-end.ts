import { Readable, Writable } from 'node:stream'
import { CONTROL_HIGH_WATER_MARK } from '../constants.js'
import { encodeFrame, FRAME, frameDecoder, frameHeader } from './frames.js'
import type { LocalEnd } from '../tunnels/proxy.js'
import type { Duplex } from 'node:stream'

/**
 * The local end of a control tunnel: frames from the client feed `input`,
 * `output` writes frames to the client. A client that disconnects without
 * sending FIN makes `input` fail, which resets the stream.
 */
export function framedEnd (socket: Duplex, head: Buffer): LocalEnd & { gone: () => boolean } {
  let finSeen = false
  let gone = false
  const input = new Readable({
    highWaterMark: CONTROL_HIGH_WATER_MARK,
    read () { socket.resume() }
  })
  input.on('error', () => {})
  const decode = frameDecoder({
    data: (b) => { if (!input.push(b)) socket.pause() },
    fin: () => { finSeen = true; input.push(null) },
    rst: (reason) => { gone = true; input.destroy(new Error(`client reset the tunnel: ${reason}`)) },
    invalid: (why) => { gone = true; input.destroy(new Error(`control client: ${why}`)); socket.destroy() }
  })
  const onClose = (): void => {
    gone = true
    if (!finSeen && !input.destroyed) input.destroy(new Error('control client went away without closing the tunnel'))
  }
  socket.on('data', decode)
  // an EOF after our FIN frame is a client that is done writing; before it, a client that died
  socket.on('end', () => { if (!finSeen) onClose() })
  socket.on('close', onClose)
  socket.on('error', () => {})
  if (head.byteLength > 0) decode(head)
  const output = new Writable({
    highWaterMark: CONTROL_HIGH_WATER_MARK,
    write (chunk: Buffer, _enc, cb) {
      if (socket.destroyed) { cb(new Error('control client went away')); return }
      socket.cork()
      socket.write(frameHeader(FRAME.DATA, chunk.byteLength))
      socket.write(chunk, (err) => { cb(err ?? undefined) })
      socket.uncork()
    },
    final (cb) {
      if (socket.destroyed) { cb(new Error('control client went away')); return }
      socket.write(encodeFrame(FRAME.FIN), (err) => { cb(err ?? undefined) })
    }
  })
  output.on('error', () => {})
  // the reason travels in the RST frame once the splice has finished
  return { input, output, reset: () => {}, gone: () => gone }
}

