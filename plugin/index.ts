/**
 * Library entry: defaults → construct → wire.
 *   const sidecar = createSidecar(loadConfig('config/default.yaml'))
 *   await sidecar.start()
 */
import { parseConfig } from '../config/load.js'
import type { Config } from '../config/schema.js'
import { createTelemetry, type Telemetry } from './events.js'
import { Sidecar } from './sidecar.js'
import type { Stage } from './pipeline/stage.js'

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
