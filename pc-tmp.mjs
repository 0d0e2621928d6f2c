import { RTCPeerConnection } from 'node-datachannel/polyfill'
import ndc from 'node-datachannel'
async function pair () {
  const a = new RTCPeerConnection({ iceServers: [] })
  const b = new RTCPeerConnection({ iceServers: [] })
  a.onicecandidate = e => { if (e.candidate?.candidate) b.addIceCandidate(e.candidate).catch(()=>{}) }
  b.onicecandidate = e => { if (e.candidate?.candidate) a.addIceCandidate(e.candidate).catch(()=>{}) }
  const ch = a.createDataChannel('x')
  const got = new Promise(r => { b.ondatachannel = ev => { ev.channel.onmessage = m => r(String(m.data)) } })
  const opened = new Promise(r => { ch.onopen = r })
  const o = await a.createOffer(); await a.setLocalDescription(o); await b.setRemoteDescription(o)
  const an = await b.createAnswer(); await b.setLocalDescription(an); await a.setRemoteDescription(an)
  await opened
  ch.send('hi')
  const m = await got
  if (process.env.CLOSE) { a.close(); b.close() }
  return m
}
console.log('1', await pair())
if (process.env.WAIT) await new Promise(r => setTimeout(r, Number(process.env.WAIT)))
let t0 = Date.now()
ndc.cleanup(); console.log('cleanup took', Date.now() - t0)
t0 = Date.now()
process.on('exit', () => console.log('exit after', Date.now() - t0))
