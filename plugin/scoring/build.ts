/**
 * Config + bundle → the scoring stage: load and verify the bundle (registry),
 * start the worker pool, and per configured source restore the parser the
 * adapter was trained with and resolve its windows (config first, else what
 * the adapter was trained with). Returns undefined when scoring is not
 * configured (no `model.bundle` or no `sources`): the sidecar then relays.
 */
import { join, resolve } from 'node:path'
import type { Config, SourceConfig } from '../../config/schema.js'
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
import { SourceRuntime, type WindowSpec } from './source-runtime.js'
import { ScoringStage } from './stage.js'

export interface Scoring {
  stage: ScoringStage
  registry: ModelRegistry
  pool: ScoringPool
  close: () => Promise<void>
}

function windowSpec (src: SourceConfig, trained: Record<string, unknown>): WindowSpec {
  const w = src.window
  const mode = w.mode ?? (trained.mode === 'sliding' ? 'sliding' : 'session')
  const common = { idleMs: w.idle_timeout, maxAgeMs: w.max_age, maxOpen: w.max_open }
  if (mode === 'sliding') {
    const size = w.size ?? (typeof trained.size === 'number' ? trained.size : 20)
    const step = w.step ?? (typeof trained.step === 'number' ? trained.step : size)
    return { mode, size, step, groupBy: w.group_by, ...common }
  }
  const pattern = w.key_pattern ?? (typeof trained.session_key === 'string' ? trained.session_key : undefined)
  if (pattern === undefined && w.key_field === undefined) {
    throw new Error(`source "${src.name}": session windows need window.key_pattern or window.key_field`)
  }
  return { mode, keyPattern: pattern === undefined ? undefined : new RegExp(pattern), keyField: w.key_field, maxLength: w.max_length, ...common }
}

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
  for (const src of sources) {
    const trained = manifest.sources[adapterOf.get(src.name) as string]
    const featurizer = new Featurizer(await parserFor(dir, trained), embedder, { buckets: trained.params.buckets, maxParams: trained.params.max_params })
    runtimes.push(new SourceRuntime({
      name: src.name,
      messageKeys: src.message_key,
      format: src.format === 'none' ? undefined : logFormat(src.format, { logFormat: src.log_format }),
      window: windowSpec(src, trained.window as Record<string, unknown>),
      maxLen: manifest.encoder.max_len,
    }, featurizer))
  }
  const router = new Router(sources.map((s, i) => ({ patterns: s.match, source: runtimes[i] })))
  const scorer = new ModelScorer(registry, pool, s => adapterOf.get(s) ?? s)
  const stage = new ScoringStage(router, runtimes, scorer, telemetry, {
    enrich: { field: config.enrich.field, flat: config.enrich.flat, names: config.enrich.names },
    summaryTag: config.enrich.summary_tag ?? undefined,
  })
  registry.on('swap', (source, live) => {
    telemetry.counters.inc('adapter_swaps_total', 1, { source })
    telemetry.log.info({ source, version: live.version, threshold: live.adapter.threshold }, 'adapter swapped in')
  })
  registry.on('failed', (source, err) => {
    const code = (err as { code?: string }).code ?? 'ADAPTER_LOAD_FAILED'
    telemetry.counters.inc('adapter_load_failures_total', 1, { source, code })
    telemetry.log.error({ source, code, err: err.message }, 'adapter not loaded; the previous one stays live')
  })
  for (const s of registry.sources) telemetry.counters.gauge(`adapter_version{source="${s}"}`, () => Number((registry.current(s)?.version ?? '#0').split('#')[1]))
  if (model.watch) registry.watch()
  const pollers = remotePollers(sources, adapterOf, registry, telemetry)
  for (const p of pollers) p.start()
  return {
    stage, registry, pool,
    close: async () => {
      await Promise.all(pollers.map(p => p.stop()))
      registry.close()
      await pool.close()
    },
  }
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
