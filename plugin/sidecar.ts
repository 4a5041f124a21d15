/**
 * Wiring of the sidecar (one path, socket to socket):
 *
 *   Fluent Bit / Fluentd out_forward
 *        │  TCP/TLS, Forward v1 (Message, Forward, PackedForward, CompressedPackedForward)
 *        ▼
 *   ForwardServer ── frames ─▶ Pipeline.submit(tag, entries) ─▶ stages ─▶ ForwardClient
 *        ▲                         │ counts in-flight events;                 │ PackedForward + chunk id
 *        │ {"ack": chunk}          │ pauses sockets when full                 ▼
 *        └──── Receipt done ◀──────┴───────── settle on downstream ack ── Fluent Bit in_forward
 *
 * Vector (no Forward sink) POSTs JSON / NDJSON to HttpInput (plugin/input/http.ts)
 * instead: the same Pipeline.submit, answered 200 once the Receipt is done.
 *
 * With a model bundle and sources in the config, the stage is the scoring
 * stage (plugin/scoring/); otherwise it passes events through unchanged.
 */
import type { AddressInfo } from 'node:net'
import type { Config } from '../config/schema.js'
import type { Telemetry } from './events.js'
import type { Scoring } from './scoring/build.js'
import { AdminServer } from './admin/http.js'
import type { DiskBuffer } from './buffer/disk-buffer.js'
import { ForwardClient } from './forward/client.js'
import { ForwardServer } from './forward/server.js'
import { createSidecarMetrics } from './metrics/index.js'
import { createReadiness } from './metrics/readiness.js'
import { HttpInput } from './input/http.js'
import { Pipeline } from './pipeline/pipeline.js'
import { PassThroughStage, type Stage } from './pipeline/stage.js'

export interface SidecarParts {
  config: Readonly<Config>
  telemetry: Telemetry
  stages?: Stage[]
  /** The scoring stage's model side (registry, pool), when scoring is configured. */
  scoring?: Scoring
  /** The on-disk buffer, when `buffer.enabled`: chunks are acked once on disk and replayed after a restart. */
  buffer?: DiskBuffer
}

export class Sidecar {
  readonly client: ForwardClient
  readonly pipeline: Pipeline
  readonly server: ForwardServer
  /** POST JSON / NDJSON (Vector's http sink), when input.http.enabled; acked like Forward chunks. */
  readonly http: HttpInput | undefined
  private stopping: Promise<void> | undefined
  private admin: AdminServer | undefined
  private started = false
  private replaying: Promise<void> | undefined

  constructor (readonly parts: SidecarParts) {
    const { config, telemetry } = parts
    this.client = new ForwardClient(config.output.forward, telemetry)
    this.pipeline = new Pipeline(parts.stages ?? [new PassThroughStage()], this.client, { maxPending: config.limits.max_pending_records, buffer: parts.buffer, maxMemory: config.limits.max_memory })
    this.server = new ForwardServer(config.input.forward, this.pipeline, telemetry)
    this.http = config.input.http.enabled ? new HttpInput(config.input.http, this.pipeline, telemetry) : undefined
    telemetry.counters.gauge('pipeline_pending_records', () => this.pipeline.pending)
    // process_resident_memory_bytes comes with prom-client's default metrics (plugin/metrics/process.ts)
    telemetry.counters.gauge('memory_limit_bytes', () => config.limits.max_memory)
    const b = parts.buffer
    if (b !== undefined) {
      telemetry.counters.gauge('buffer_bytes', () => b.bytes)
      telemetry.counters.gauge('buffer_segments', () => b.segmentCount)
      telemetry.counters.gauge('buffer_appended_records_total', () => b.stats.appendedRecords)
      telemetry.counters.gauge('buffer_replayed_records_total', () => b.stats.replayedRecords)
      telemetry.counters.gauge('buffer_corrupt_frames_total', () => b.stats.corruptFrames)
      telemetry.counters.gauge('buffer_write_errors_total', () => b.stats.writeErrors)
      b.on('error', err => telemetry.log.error({ code: err.code, err: err.message }, 'disk buffer I/O failed'))
    }
  }

  async start (): Promise<{ forward: AddressInfo, admin?: AddressInfo, http?: AddressInfo }> {
    await this.pipeline.start()
    if (this.parts.buffer !== undefined) {
      // What an earlier run accepted and did not deliver goes first; the
      // input opens at once and waits like any sender while the pipeline is full.
      this.replaying = this.pipeline.replay().then(n => {
        if (n > 0) this.parts.telemetry.log.warn({ code: 'BUFFER_REPLAYED', records: n, corrupt_frames: this.parts.buffer?.stats.corruptFrames }, 'replayed undelivered records from the disk buffer (some may be duplicates downstream)')
      }, (err: unknown) => { this.parts.telemetry.log.error({ code: 'BUFFER_IO', err: (err as Error).message }, 'replaying the disk buffer failed') })
    }
    const forward = await this.server.listen()
    const http = await this.http?.listen()
    let admin: AddressInfo | undefined
    const a = this.parts.config.admin
    if (a.enabled) {
      this.admin = new AdminServer({ listen: a.listen, port: a.port, token: a.token, maxUpload: a.max_upload }, {
        metrics: createSidecarMetrics({ counters: this.parts.telemetry.counters, scoring: this.parts.scoring, sources: this.parts.config.sources.map(s => s.name) }),
        registry: () => this.parts.scoring?.registry,
        flush: this.parts.scoring === undefined ? undefined : () => (this.parts.scoring as Scoring).stage.flush(),
        ready: createReadiness({
          phase: () => this.stopping !== undefined ? 'stopping' : this.started ? 'started' : 'starting',
          downstream: { connected: () => this.client.connected, host: this.parts.config.output.forward.host, port: this.parts.config.output.forward.port, timeoutMs: this.parts.config.output.forward.connect_timeout },
          scoring: this.parts.scoring,
          buffer: this.parts.buffer === undefined ? undefined : () => ({ full: (this.parts.buffer as DiskBuffer).full }),
          detail: () => ({ pending_records: this.pipeline.pending }),
        }),
      })
      admin = await this.admin.listen()
    }
    this.started = true
    this.parts.telemetry.log.info({ listen: `${forward.address}:${forward.port}`, admin: admin === undefined ? null : `${admin.address}:${admin.port}`, http: http === undefined ? null : `${http.address}:${http.port}`, downstream: `${this.parts.config.output.forward.host}:${this.parts.config.output.forward.port}` }, 'fluent-anomaly forward input listening')
    return { forward, admin, http }
  }

  /**
   * Graceful stop: stop reading, deliver pending events and write their acks
   * within limits.shutdown_grace; whatever is not acked by then is resent by
   * its sender (at-least-once).
   */
  stop (): Promise<void> {
    this.stopping ??= (async () => {
      const grace = this.parts.config.limits.shutdown_grace
      const t0 = Date.now()
      const serverClosed = this.server.close(grace)
      const httpClosed = this.http?.close(grace) // in-flight requests get their answer within the grace
      await this.pipeline.close(grace) // also ends a replay waiting for room
      await this.replaying
      await serverClosed
      await httpClosed
      await this.parts.buffer?.close() // undelivered records stay on disk for the next start
      await this.parts.scoring?.close()
      await this.admin?.close()
      const left = this.pipeline.pending
      if (left > 0) this.parts.telemetry.log.warn({ code: 'SHUTDOWN_TIMEOUT', pending: left, ms: Date.now() - t0 }, this.parts.buffer === undefined ? 'stopped with records not yet delivered; their senders will resend them' : 'stopped with records not yet delivered; they stay in the disk buffer for the next start')
      else this.parts.telemetry.log.info({ ms: Date.now() - t0 }, 'stopped cleanly')
    })()
    return this.stopping
  }
}
