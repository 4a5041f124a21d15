/**
 * Library entry: defaults → construct → wire.
 *   const sidecar = createSidecar(loadConfig('config/default.yaml'))
 *   await sidecar.start()
 */
import { resolve } from 'node:path'
import { parseConfig } from '../config/load.js'
import { DiskBuffer } from './buffer/disk-buffer.js'
import type { Config } from '../config/schema.js'
import { createTelemetry, type Telemetry } from './events.js'
import { Sidecar } from './sidecar.js'
import { buildScoring } from './scoring/build.js'
import type { Stage } from './pipeline/stage.js'

/**
 * The sidecar as configured: with `model.bundle` and `sources`, records of
 * those sources are scored (bundle loaded and verified, worker pool started);
 * otherwise it relays records unchanged.
 */
export async function buildSidecar (config: Readonly<Config>, opts: { telemetry?: Telemetry, baseDir?: string } = {}): Promise<Sidecar> {
  const telemetry = opts.telemetry ?? createTelemetry(config.log.level)
  const scoring = await buildScoring(config, telemetry, opts.baseDir)
  if (scoring === undefined) telemetry.log.info('no model.bundle / sources configured: relaying records unscored')
  let buffer: DiskBuffer | undefined
  try {
    buffer = openBuffer(config, opts.baseDir)
  } catch (err) {
    await scoring?.close()
    throw err
  }
  return new Sidecar({ config, telemetry, stages: scoring === undefined ? undefined : [scoring.stage], scoring, buffer })
}

/** The disk buffer of `config.buffer` (path relative to baseDir, the config file's folder), or undefined when off. */
export function openBuffer (config: Readonly<Config>, baseDir = process.cwd()): DiskBuffer | undefined {
  const b = config.buffer
  if (!b.enabled) return undefined
  return DiskBuffer.open({
    dir: resolve(baseDir, b.path), // an absolute path stays as it is
    maxSize: b.max_size, segmentSize: b.segment_size, fsync: b.fsync, fsyncIntervalMs: b.fsync_interval,
  })
}

/** A sidecar with the given stages (default: pass-through); synchronous, for embedding and tests. */
export function createSidecar (config: Readonly<Config> = parseConfig({}), opts: { telemetry?: Telemetry, stages?: Stage[], baseDir?: string } = {}): Sidecar {
  const telemetry = opts.telemetry ?? createTelemetry(config.log.level)
  return new Sidecar({ config, telemetry, stages: opts.stages, buffer: openBuffer(config, opts.baseDir) })
}

export { Sidecar } from './sidecar.js'
export { loadConfig, parseConfig, ConfigError } from '../config/load.js'
export type { Config } from '../config/schema.js'
export { ErrorCodes, FluentAnomalyError } from './errors.js'
export { EventTime } from './forward/event-time.js'
export type { Stage, Sink, LogEvent } from './pipeline/stage.js'
