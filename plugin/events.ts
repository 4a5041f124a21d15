/**
 * Typed telemetry: each event is one counter and (when it matters) one log
 * line carrying its stable error code. A drop always carries {count, reason}
 * and is never emitted for a retry (Vector `internal_events`).
 * Counters live in a plain map here, so `inc` stays a map update on hot
 * paths; plugin/metrics/ reads them at scrape time and exposes them with
 * prom-client, with the HELP text and type from plugin/metrics/catalog.ts.
 */
import { pino, type Logger } from 'pino'
import type { ErrorCode } from './errors.js'

export type Labels = Readonly<Record<string, string>>

/** `name{k="v",...}`: one series per label set, as Prometheus writes it. */
export const seriesKey = (name: string, labels?: Labels): string =>
  labels === undefined ? name : `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`

export class Counters {
  private readonly values = new Map<string, number>()
  private readonly gauges = new Map<string, () => number>()

  inc (name: string, n = 1, labels?: Labels): void {
    const key = seriesKey(name, labels)
    this.values.set(key, (this.values.get(key) ?? 0) + n)
  }

  get (name: string, labels?: Labels): number {
    return this.values.get(seriesKey(name, labels)) ?? 0
  }

  /** A value read when scraped (queue depths, open connections). */
  gauge (name: string, read: () => number): void { this.gauges.set(name, read) }

  snapshot (): Record<string, number> {
    const out: Record<string, number> = Object.fromEntries(this.values)
    for (const [k, read] of this.gauges) out[k] = read()
    return out
  }
}

/**
 * Every reason a record can be dropped (never delivered, never retried).
 * plugin/metrics/ exports `records_dropped_total{reason}` at 0 for each one
 * from the start, so an alert on it has a series before the first drop: a
 * new drop event must name its reason here.
 */
export const DROP_REASONS = ['bad_entry'] as const
export type DropReason = typeof DROP_REASONS[number]

const dropped = (t: Telemetry, count: number, reason: DropReason): void => t.counters.inc('records_dropped_total', count, { reason })

export interface Telemetry {
  log: Logger
  counters: Counters
}

export function createTelemetry (level: string, destination?: NodeJS.WritableStream): Telemetry {
  const log = destination === undefined ? pino({ level, base: { svc: 'fluent-anomaly' } }) : pino({ level, base: { svc: 'fluent-anomaly' } }, destination)
  return { log, counters: new Counters() }
}

/** Silent telemetry for tests and library use. */
export const quietTelemetry = (): Telemetry => createTelemetry('silent')

// ---- the events themselves: one function each, one counter each ----

export const events = {
  connectionOpened (t: Telemetry, remote: string): void {
    t.counters.inc('forward_connections_total')
    t.log.debug({ remote }, 'forward connection opened')
  },
  connectionRefused (t: Telemetry, remote: string, code: ErrorCode, reason: string): void {
    t.counters.inc('forward_connections_refused_total', 1, { code })
    t.log.warn({ remote, code }, reason)
  },
  connectionError (t: Telemetry, remote: string, code: ErrorCode, message: string): void {
    t.counters.inc('forward_connection_errors_total', 1, { code })
    t.log.warn({ remote, code }, message)
  },
  frameSkipped (t: Telemetry, remote: string, code: ErrorCode, reason: string): void {
    t.counters.inc('forward_frames_skipped_total', 1, { code })
    t.log.warn({ remote, code }, reason)
  },
  recordsReceived (t: Telemetry, n: number, mode: string): void {
    t.counters.inc('records_in_total', n, { mode })
  },
  /** Entries that were not [time, record]: dropped, never retried. */
  recordsRejected (t: Telemetry, remote: string, count: number): void {
    dropped(t, count, 'bad_entry')
    t.log.warn({ remote, count, code: 'FWD_BAD_ENTRY' }, `skipped ${count} malformed entr${count === 1 ? 'y' : 'ies'}`)
  },
  chunkAcked (t: Telemetry): void { t.counters.inc('forward_acks_sent_total') },
  backpressure (t: Telemetry, on: boolean, pending: number, reason = 'max_pending_records'): void {
    t.counters.inc(on ? 'backpressure_engaged_total' : 'backpressure_released_total')
    t.log.info({ pending, reason: on ? reason : undefined }, on ? `${reason} reached: pausing input sockets` : 'back under the limits: resuming input')
  },
  handshakeOk (t: Telemetry, remote: string, hostname: string): void {
    t.counters.inc('forward_handshakes_total', 1, { result: 'ok' })
    t.log.debug({ remote, hostname }, 'secure forward handshake ok')
  },
  handshakeFailed (t: Telemetry, remote: string, code: ErrorCode, reason: string): void {
    t.counters.inc('forward_handshakes_total', 1, { result: 'refused' })
    t.log.warn({ remote, code }, reason)
  },
  // output
  downstreamConnected (t: Telemetry, target: string): void {
    t.counters.inc('output_connects_total')
    t.log.info({ target }, 'connected to downstream')
  },
  downstreamError (t: Telemetry, target: string, code: ErrorCode, message: string, retryInMs: number): void {
    t.counters.inc('output_errors_total', 1, { code })
    t.log.warn({ target, code, retryInMs }, message)
  },
  chunkSent (t: Telemetry, records: number, retry: boolean): void {
    t.counters.inc(retry ? 'output_chunks_retried_total' : 'output_chunks_sent_total')
    if (!retry) t.counters.inc('records_out_total', records)
  },
  chunkDelivered (t: Telemetry, records: number): void {
    t.counters.inc('output_chunks_acked_total')
    t.counters.inc('records_delivered_total', records)
  },
}
