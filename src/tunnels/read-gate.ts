import type { Stream } from '@libp2p/interface'

/**
 * The read side of a libp2p stream, paused and resumed for backpressure.
 *
 * `stream.resume()` dispatches the buffered messages synchronously, and a
 * `message` handler that finds its destination full asks for a pause in the
 * middle of it; @libp2p/utils 7.4 then leaves the stream readable once
 * `resume()` returns (the `resume()` bug). The gate defers such a pause and
 * re-applies it after `resume()` has returned.
 */
export interface ReadGate {
  /** Stop reading (or, while {@link ReadGate.resume} dispatches, right after it). */
  pause (): void
  /** Start reading again if paused; a pause asked for meanwhile holds afterwards. */
  resume (): void
  /** `resume()` is dispatching now (debug state). */
  readonly resuming: boolean
  /** A pause was asked for during the current or last `resume()` (debug state). */
  readonly pauseAfterResume: boolean
}

/** Create the {@link ReadGate} of `stream`. */
export function createReadGate (stream: Stream): ReadGate {
  let resuming = false
  let pauseAfterResume = false
  return {
    get resuming () { return resuming },
    get pauseAfterResume () { return pauseAfterResume },
    pause () {
      if (resuming) { pauseAfterResume = true; return }
      try { stream.pause() } catch {}
    },
    resume () {
      if (stream.readStatus !== 'paused') return
      resuming = true
      pauseAfterResume = false
      try { stream.resume() } catch {}
      resuming = false
      // the re-check after resume() returns
      if (pauseAfterResume && (stream.readStatus as string) === 'readable') {
        try { stream.pause() } catch {}
      }
    }
  }
}
