/**
 * What GET /metrics serves: one prom-client registry per sidecar (the
 * `Counters` series through the bridge, the scoring metrics), then the
 * process-wide default metrics.
 *
 *   Counters (inc: a map update) ──refresh() at scrape──▶ CountersBridge ─┐
 *   ScoringPool 'batch' ─▶ Histogram.observe · pool / registry read at scrape ─┼─▶ Registry ─▶ text
 *   prom-client default metrics (one registry per process) ───────────────────┘
 */
import { Registry } from 'prom-client'
import type { Counters } from '../events.js'
import type { ModelRegistry } from '../../models/registry.js'
import type { ScoringPool } from '../../worker-pool/pool.js'
import { CountersBridge } from './counters-bridge.js'
import { processMetrics } from './process.js'
import { scoringMetrics } from './scoring.js'

export { CATALOG, PREFIX, specOf, type MetricSpec } from './catalog.js'

export interface MetricsSources {
  counters: Counters
  /** The model side, when the sidecar scores. */
  scoring?: { pool: ScoringPool, registry: ModelRegistry }
  /** Names of the scored sources (their per-source counters start at 0). */
  sources?: readonly string[]
}

export interface SidecarMetrics {
  readonly contentType: string
  /** The Prometheus text exposition, read now. */
  render: () => Promise<string>
  /** Stop listening to the pool (the registry itself needs no closing). */
  close: () => void
}

export function createSidecarMetrics (from: MetricsSources): SidecarMetrics {
  const registry = new Registry()
  const detach = from.scoring === undefined ? () => {} : scoringMetrics(registry, from.scoring)
  const processRegistry = processMetrics()
  const reserved = processRegistry.getMetricsAsArray().map(m => m.name)
  const bridge = new CountersBridge(from.counters, registry, reserved, from.scoring === undefined ? [] : from.sources ?? [])
  return {
    contentType: registry.contentType,
    render: async () => {
      bridge.refresh()
      return await registry.metrics() + '\n' + await processRegistry.metrics()
    },
    close: detach,
  }
}
