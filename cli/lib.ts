/**
 * The p2pnet library, loaded on first use. Commands import it inside their
 * action, so `peerup --version`, `peerup status` and daemon-backed
 * `peerup nc` never load libp2p (src/index.ts loads the polyfill first).
 */
export type Lib = typeof import('../src/index.js')

let loading: Promise<Lib> | undefined

/** The library (loaded once). */
export async function lib (): Promise<Lib> {
  loading ??= import('../src/index.js')
  return await loading
}
