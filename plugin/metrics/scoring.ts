/**
 * Metrics of the model side that `Counters` does not keep: the worker pool's
 * queue and batch histograms (from its 'batch' event, one per scored batch,
 * never per record) and the live adapter per source as an info gauge.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { ModelRegistry } from '../../models/registry.js'
import type { ScoringPool } from '../../worker-pool/pool.js'
import { LATENCY_BUCKETS_MS } from '../../worker-pool/stats.js'
import { CATALOG, PREFIX } from './catalog.js'

const meta = (name: string, registry: Registry): { name: string, help: string, labelNames: string[], registers: Registry[] } =>
  ({ name: PREFIX + name, help: CATALOG[name].help, labelNames: [...CATALOG[name].labels ?? []], registers: [registry] })

const SECONDS = LATENCY_BUCKETS_MS.map(ms => ms / 1000)
const WINDOWS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

/** Registers the scoring metrics in `registry`; returns a function that detaches them from the pool. */
export function scoringMetrics (registry: Registry, model: { pool: ScoringPool, registry: ModelRegistry }): () => void {
  const { pool } = model
  const adapters = model.registry
  new Gauge({ ...meta('scoring_pool_queued_windows', registry), collect () { this.set(pool.queued) } })
  new Gauge({ ...meta('scoring_pool_inflight_batches', registry), collect () { this.set(pool.stats().inFlight) } })
  new Counter({
    ...meta('scoring_pool_errors_total', registry),
    collect () {
      this.reset()
      for (const [code, n] of Object.entries(pool.stats().errors)) this.inc({ code }, n ?? 0)
    },
  })
  const run = new Histogram({ ...meta('scoring_batch_duration_seconds', registry), buckets: SECONDS })
  const wait = new Histogram({ ...meta('scoring_batch_queue_wait_seconds', registry), buckets: SECONDS })
  const size = new Histogram({ ...meta('scoring_batch_windows', registry), buckets: WINDOWS })
  new Gauge({
    ...meta('adapter_info', registry),
    collect () {
      this.reset() // a swapped-out version's series goes
      for (const source of adapters.sources) {
        const live = adapters.current(source)
        if (live !== undefined) this.set({ source, version: live.version, created: live.adapter.meta.created }, 1)
      }
    },
  })
  new Gauge({
    ...meta('adapter_threshold', registry),
    collect () {
      for (const source of adapters.sources) {
        const live = adapters.current(source)
        if (live !== undefined) this.set({ source }, live.adapter.threshold)
      }
    },
  })
  const onBatch = (b: { windows: number, queuedMs: number, runMs: number }): void => {
    run.observe(b.runMs / 1000)
    wait.observe(b.queuedMs / 1000)
    size.observe(b.windows)
  }
  pool.on('batch', onBatch)
  return () => { pool.off('batch', onBatch) }
}
