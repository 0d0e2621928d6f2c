/**
 * The daemon as a library object: {@link createDaemon} and its events, and
 * {@link pingReport}, the ping with a path diagnosis that `peerup ping` and
 * the control API's `/v1/ping` share.
 */
export { createDaemon, type Daemon, type DaemonInit, type DaemonEvents, type ReservationFailure } from './daemon.js'
export { pingReport, type PingReport, type PingReportReply, type PingReportOptions } from './ping-report.js'
