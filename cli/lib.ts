/**
 * The p2pnet library, loaded on first use. Commands import it inside their
 * action, so `peerup --version`, `peerup status` and daemon-backed
 * `peerup nc` never load libp2p (src/index.ts loads the polyfill first).
 * Commands that only read or edit files take {@link files}, the light half
 * (`peerup/config`), and commands that ask a daemon {@link control}
 * (`peerup/control`); neither loads a libp2p network module.
 */
export type Lib = typeof import('../src/index.js')
/** The light half of the library: the config dir's files (`peerup/config`). */
export type Files = typeof import('../src/config/index.js')
/** The daemon's control API, client side (`peerup/control`). */
export type Control = typeof import('../src/control/index.js')

let loading: Promise<Lib> | undefined
let loadingFiles: Promise<Files> | undefined
let loadingControl: Promise<Control> | undefined

/** The library (loaded once): commands that start a node. */
export async function lib (): Promise<Lib> {
  loading ??= import('../src/index.js')
  return await loading
}


/** The control API's client (loaded once): commands that ask a running daemon or relay. */
export async function control (): Promise<Control> {
  loadingControl ??= import('../src/control/index.js')
  return await loadingControl
}

/** The config-dir half of the library (loaded once): commands that only read or edit files. */
export async function files (): Promise<Files> {
  loadingFiles ??= import('../src/config/index.js')
  return await loadingFiles
}
