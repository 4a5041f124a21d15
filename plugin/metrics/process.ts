/**
 * Process metrics: prom-client's default set (CPU, resident memory, heap,
 * file descriptors, event loop lag, GC), prefixed `fluent_anomaly_` like ours,
 * so `fluent_anomaly_process_resident_memory_bytes` keeps the name the
 * sidecar exported before (and `memory_limit_bytes` is compared with it).
 *
 * One registry per process, made on first use: the collectors describe the
 * process, and prom-client cannot remove the event loop monitor and GC
 * observer it installs, so a second sidecar in the same process (tests)
 * shares them instead of adding more.
 */
import { collectDefaultMetrics, Registry } from 'prom-client'
import { PREFIX } from './catalog.js'

let registry: Registry | undefined

export function processMetrics (): Registry {
  if (registry === undefined) {
    registry = new Registry()
    collectDefaultMetrics({ register: registry, prefix: PREFIX })
  }
  return registry
}
