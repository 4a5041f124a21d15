/**
 * Library entry: defaults → construct → wire.
 *   const sidecar = createSidecar(loadConfig('config/default.yaml'))
 *   await sidecar.start()
 */
import { parseConfig } from '../config/load.js'
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
  return new Sidecar({ config, telemetry, stages: scoring === undefined ? undefined : [scoring.stage], scoring })
}

/** A sidecar with the given stages (default: pass-through); synchronous, for embedding and tests. */
export function createSidecar (config: Readonly<Config> = parseConfig({}), opts: { telemetry?: Telemetry, stages?: Stage[] } = {}): Sidecar {
  const telemetry = opts.telemetry ?? createTelemetry(config.log.level)
  return new Sidecar({ config, telemetry, stages: opts.stages })
}

export { Sidecar } from './sidecar.js'
export { loadConfig, parseConfig, ConfigError } from '../config/load.js'
export type { Config } from '../config/schema.js'
export { ErrorCodes, FluentAnomalyError } from './errors.js'
export { EventTime } from './forward/event-time.js'
export type { Stage, Sink, LogEvent } from './pipeline/stage.js'
