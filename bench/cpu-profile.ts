/**
 * Preload for `npm run bench -- --profile DIR`: `--cpu-prof` is not allowed
 * in NODE_OPTIONS, so this starts the V8 profiler through `node:inspector`
 * and writes `<DIR>/<pid>-<argv>.cpuprofile` when the process exits.
 * Loaded with NODE_OPTIONS="--import <this file>" and PEERUP_BENCH_PROFILE_DIR.
 */
import { Session } from 'node:inspector'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.env.PEERUP_BENCH_PROFILE_DIR
if (dir != null && dir !== '') {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 500 })
  session.post('Profiler.start')
  const tag = process.argv.slice(2).filter(a => !a.includes('/')).slice(0, 3).join('-').replace(/[^\w.-]/g, '_')
  process.on('exit', () => {
    // the in-thread inspector session answers synchronously
    session.post('Profiler.stop', (err, res) => {
      if (err == null) writeFileSync(join(dir, `${process.pid}-${tag}.cpuprofile`), JSON.stringify(res.profile))
    })
  })
}
