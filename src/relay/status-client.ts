import { connect } from 'node:net'
import { UnreachableError } from '../errors.js'

/** Largest status answer a client reads (bytes). */
const MAX_ANSWER = 1024 * 1024

/** Ask a relay's status socket; rejects with {@link UnreachableError} when no relay answers. */
export async function queryStatusSocket (file: string, options: { timeoutMs?: number } = {}): Promise<unknown> {
  return await new Promise((resolve, reject) => {
    const s = connect(file)
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => { s.destroy(); reject(new UnreachableError(`${file}: the relay did not answer within ${options.timeoutMs ?? 5000} ms`)) }, options.timeoutMs ?? 5000)
    s.on('data', (d: Buffer) => {
      size += d.length
      if (size > MAX_ANSWER) { s.destroy(); clearTimeout(timer); reject(new Error(`${file}: status answer over ${MAX_ANSWER} bytes`)); return }
      chunks.push(d)
    })
    s.on('error', (err: any) => {
      clearTimeout(timer)
      reject(new UnreachableError(`${file}: no relay running (${err.code ?? err.message})`))
    })
    s.on('end', () => {
      clearTimeout(timer)
      try { resolve(JSON.parse(Buffer.concat(chunks).toString('utf8'))) } catch (err: any) { reject(new Error(`${file}: bad status answer: ${err.message}`)) }
    })
  })
}
