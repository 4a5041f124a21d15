/**
 * Config + bundle → the scoring stage: load and verify the bundle (registry),
 * start the worker pool, and per configured source restore the parser the
 * adapter was trained with and resolve its windows (config first, else the
 * policy the adapter was trained with, else the built-in defaults:
 * window-policy.ts). Returns undefined when scoring is not
 * configured (no `model.bundle` or no `sources`): the sidecar then relays.
 */
import { join, resolve } from 'node:path'
import { WINDOW_DEFAULTS, type Config, type SourceConfig } from '../../config/schema.js'
import { ModelRegistry } from '../../models/registry.js'
import { RemoteAdapterPoller } from '../../models/remote.js'
import type { Manifest } from '../../models/bundle.js'
import { createScoringPool, type ScoringPool } from '../../worker-pool/pool.js'
import { loadEmbedder } from '../embedding/embedder.js'
import type { Telemetry } from '../events.js'
import { Drain } from '../mining/drain.js'
import { loadSnapshot } from '../mining/snapshot.js'
import { presetFor } from '../mining/presets.js'
import { logFormat } from '../prepare/formats.js'
import { Featurizer } from './features.js'
import { ModelScorer } from './model-scorer.js'
import { Router } from './router.js'
import { SourceRuntime } from './source-runtime.js'
import { ScoringStage } from './stage.js'
import { mismatchMessage, resolveWindow, unlimitedMessage, type ResolvedWindow } from './window-policy.js'
import { formatDuration } from '../prepare/window-policy.js'

export interface Scoring {
  stage: ScoringStage
  registry: ModelRegistry
  pool: ScoringPool
  /** The windows each source serves, and where their settings came from. */
  windows: ReadonlyMap<string, ResolvedWindow>
  close: () => Promise<void>
}

/** Formats whose every line carries a header time (plugin/prepare/formats.ts). */
const TIMED_FORMATS = new Set(['hdfs', 'bgl', 'thunderbird'])

async function parserFor (dir: string, m: Manifest['sources'][string]): Promise<Drain> {
  if (m.parser.snapshot !== null) {
    const d = await loadSnapshot(join(dir, m.parser.snapshot))
    if (d !== null) return d
  }
  return new Drain(presetFor(m.parser.preset ?? 'default').drain)
}

export async function buildScoring (config: Readonly<Config>, telemetry: Telemetry, baseDir = process.cwd()): Promise<Scoring | undefined> {
  const { model, sources } = config
  if (model.bundle === undefined || sources.length === 0) return undefined
  const dir = resolve(baseDir, model.bundle) // an absolute path stays as it is
  const adapterOf = new Map(sources.map(s => [s.name, s.adapter ?? s.name]))
  const registry = await ModelRegistry.open(dir, [...new Set(adapterOf.values())])
  const manifest = registry.bundle.manifest
  const embedder = await loadEmbedder(join(dir, manifest.embedder.files[0]))
  const pool = createScoringPool({
    encoderPath: registry.bundle.encoderPath,
    embeddingDim: manifest.embedder.dimension,
    paramsPerLine: manifest.encoder.log_attention.max_params,
    threads: model.threads === 0 ? undefined : model.threads,
    ortThreads: model.ort_threads === 0 ? undefined : model.ort_threads,
    executionProvider: model.execution_provider,
    maxBatch: model.max_batch,
    maxWaitMs: model.max_wait,
    maxQueue: model.max_queue,
    tasksPerThread: model.tasks_per_thread,
    workerNice: model.worker_nice,
  })
  const backend = await pool.ready()
  if (backend.fallback !== null) telemetry.log.warn({ code: 'POOL_EP_FALLBACK', requested: backend.requested, running: backend.running }, backend.fallback)
  telemetry.counters.gauge(`model_execution_provider{ep="${backend.running}"}`, () => 1)
  const runtimes: SourceRuntime[] = []
  const windows = new Map<string, ResolvedWindow>()
  const unrecorded = new Set<string>()
  for (const src of sources) {
    const adapter = adapterOf.get(src.name) as string
    const trained = manifest.sources[adapter]
    let resolved: ResolvedWindow
    try {
      resolved = resolveWindow(src, trained.window, manifest.encoder.max_len)
    } catch (err) {
      await pool.close()
      registry.close()
      throw err
    }
    windows.set(src.name, resolved)
    reportPolicy(telemetry, src.name, adapter, resolved, unrecorded)
    const featurizer = new Featurizer(await parserFor(dir, trained), embedder, { buckets: trained.params.buckets, maxParams: trained.params.max_params })
    runtimes.push(new SourceRuntime({
      name: src.name,
      messageKeys: src.message_key,
      format: src.format === 'none' ? undefined : logFormat(src.format, { logFormat: src.log_format }),
      window: resolved.window,
      maxLen: resolved.maxLen,
      time: resolved.time,
      formatTimed: TIMED_FORMATS.has(src.format),
    }, featurizer))
  }
  const router = new Router(sources.map((s, i) => ({ patterns: s.match, source: runtimes[i] })))
  const scorer = new ModelScorer(registry, pool, s => adapterOf.get(s) ?? s)
  const stage = new ScoringStage(router, runtimes, scorer, telemetry, {
    enrich: { field: config.enrich.field, flat: config.enrich.flat, names: config.enrich.names },
    summaryTag: config.enrich.summary_tag ?? undefined,
    maxHeldRecords: config.limits.max_held_records,
  })
  registry.on('swap', (source, live) => {
    telemetry.counters.inc('adapter_swaps_total', 1, { source })
    telemetry.log.info({ source, version: live.version, threshold: live.adapter.threshold, rule: live.decision.rule }, 'adapter swapped in')
  })
  registry.on('failed', (source, err) => {
    const code = (err as { code?: string }).code ?? 'ADAPTER_LOAD_FAILED'
    telemetry.counters.inc('adapter_load_failures_total', 1, { source, code })
    telemetry.log.error({ source, code, err: err.message }, 'adapter not loaded; the previous one stays live')
  })
  for (const rt of runtimes) telemetry.counters.gauge(`window_clock_resets_total{source="${rt.name}"}`, () => rt.clockResets)
  for (const s of registry.sources) telemetry.counters.gauge(`adapter_version{source="${s}"}`, () => Number((registry.current(s)?.version ?? '#0').split('#')[1]))
  if (model.watch) registry.watch()
  const pollers = remotePollers(sources, adapterOf, registry, telemetry)
  for (const p of pollers) p.start()
  return {
    stage, registry, pool, windows,
    close: async () => {
      await Promise.all(pollers.map(p => p.stop()))
      registry.close()
      await pool.close()
    },
  }
}

/**
 * At start, per source: a WINDOW_POLICY_MISMATCH warning naming every key the
 * config serves differently from the trained policy (gauge
 * window_policy_mismatch{source} = how many), an info line once per adapter
 * whose bundle does not record its policy, and one when a limit is off.
 */
function reportPolicy (telemetry: Telemetry, source: string, adapter: string, r: ResolvedWindow, unrecorded: Set<string>): void {
  const n = r.mismatches.length
  telemetry.counters.gauge(`window_policy_mismatch{source="${source}"}`, () => n)
  if (n > 0) {
    const keys = Object.fromEntries(r.mismatches.map(m => [m.key, { trained: m.trained, configured: m.configured }]))
    telemetry.log.warn({ code: 'WINDOW_POLICY_MISMATCH', source, adapter, keys }, mismatchMessage(source, adapter, r.mismatches))
  }
  if (!r.known && !unrecorded.has(adapter)) {
    unrecorded.add(adapter)
    const d = WINDOW_DEFAULTS
    telemetry.log.info({ source, adapter }, `adapter "${adapter}" does not record the window policy it was trained with (a bundle from before the policy was recorded): ` +
      `where the config sets none, the built-in defaults are served (idle_timeout ${formatDuration(d.idle_timeout as number)}, max_age ${formatDuration(d.max_age as number)}, max_length ${d.max_length}) and windows are scored on up to the encoder's max_len lines`)
  }
  if (r.unlimited.length > 0) telemetry.log.info({ source, unlimited: r.unlimited }, unlimitedMessage(source, r))
}

/** One poller per adapter that has a `remote` URL (two sources sharing an adapter must not name two URLs). */
function remotePollers (sources: readonly SourceConfig[], adapterOf: Map<string, string>, registry: ModelRegistry, telemetry: Telemetry): RemoteAdapterPoller[] {
  const byAdapter = new Map<string, NonNullable<SourceConfig['remote']>>()
  for (const s of sources) {
    if (s.remote === undefined) continue
    const adapter = adapterOf.get(s.name) as string
    const seen = byAdapter.get(adapter)
    if (seen !== undefined && seen.url !== s.remote.url) throw new Error(`sources sharing adapter "${adapter}" name two remote URLs (${seen.url}, ${s.remote.url})`)
    byAdapter.set(adapter, s.remote)
  }
  return [...byAdapter].map(([adapter, r]) => {
    const p = new RemoteAdapterPoller(registry, {
      source: adapter, url: r.url, intervalMs: r.interval, timeoutMs: r.timeout, maxBytes: r.max_size,
      headers: r.token === undefined ? undefined : { authorization: `Bearer ${r.token}` },
    })
    // A successful install is logged and counted by the registry's 'swap'
    // listener above; a refused document by its 'failed' listener. Here: fetch failures.
    p.on('failed', (source, err) => {
      if (!err.code.startsWith('ADAPTER_REMOTE_')) return
      telemetry.counters.inc('adapter_remote_failures_total', 1, { source, code: err.code })
      telemetry.log.warn({ source, code: err.code, err: err.message }, 'remote adapter not fetched; the live one stays')
    })
    return p
  })
}
