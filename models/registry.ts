/**
 * The live model: one bundle, and per source the adapter currently in use.
 * Every (re)load goes through `loadAdapter` (models/bundle.ts), the same code
 * that loads at start, and swaps atomically: a failed load keeps the old
 * adapter live, is counted, and logged with its code. Each successful load
 * gets a new version string, which the worker pool uses to never mix two
 * adapters in one run.
 *
 * Triggers: `reload(source)` (admin POST), `install(source, tensors, meta)`
 * (admin PUT: validated from temp files, then renamed into place), and a
 * debounced watch of the adapters folder.
 */
import { EventEmitter } from 'node:events'
import { watch, type FSWatcher } from 'node:fs'
import { rename, rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { loadAdapter, loadBundle, type Adapter, type Bundle } from './bundle.js'
import { ModelError } from './errors.js'
import type { AdapterMeta, DecisionRule } from './manifest.js'

/**
 * How the sidecar decides with this adapter (issue 16): the rule and the
 * template table, read from the adapter json once per load, so that they
 * swap with the tensors and the threshold as one version.
 */
export interface Decision {
  rule: DecisionRule
  /** Template id -> share of the normal training windows holding it; undefined for adapters written before the table. */
  normalTemplates: ReadonlyMap<string, number> | undefined
}

export function decisionOf (meta: AdapterMeta): Decision {
  const table = meta.normal_templates
  return { rule: meta.decision?.rule ?? 'model', normalTemplates: table === undefined ? undefined : new Map(Object.entries(table)) }
}

export interface LiveAdapter {
  adapter: Adapter
  version: string
  loadedAt: Date
  decision: Decision
}

export interface RegistryEvents {
  swap: [source: string, live: LiveAdapter]
  failed: [source: string, err: Error]
}

export class ModelRegistry extends EventEmitter<RegistryEvents> {
  private readonly live = new Map<string, LiveAdapter>()
  /** Per source: how many adapters it has had; the version string is `source#n`. */
  private readonly seq = new Map<string, number>()
  private watcher: FSWatcher | undefined
  private readonly debounce = new Map<string, NodeJS.Timeout>()
  private readonly loading = new Map<string, Promise<LiveAdapter>>()

  private constructor (readonly bundle: Bundle) {
    super()
    for (const [source, adapter] of bundle.adapters) this.live.set(source, this.version(adapter))
  }

  /** Load and verify the bundle and the adapters of `sources` (default: all in the manifest). */
  static async open (dir: string, sources?: string[]): Promise<ModelRegistry> {
    return new ModelRegistry(await loadBundle(dir, { sources }))
  }

  get name (): string { return basename(this.bundle.dir) }
  get sources (): string[] { return [...this.live.keys()] }

  current (source: string): LiveAdapter | undefined { return this.live.get(source) }

  private version (adapter: Adapter): LiveAdapter {
    const n = (this.seq.get(adapter.source) ?? 0) + 1
    this.seq.set(adapter.source, n)
    return { adapter, version: `${adapter.source}#${n}`, loadedAt: new Date(), decision: decisionOf(adapter.meta) }
  }

  /** Load `source`'s adapter files again and swap; the old one stays live if this throws. Concurrent calls share one load. */
  reload (source: string): Promise<LiveAdapter> {
    const running = this.loading.get(source)
    if (running !== undefined) return running
    const p = this.swap(source, () => loadAdapter(this.bundle.dir, this.bundle.manifest, source))
      .finally(() => this.loading.delete(source))
    this.loading.set(source, p)
    return p
  }

  /** Load, then make it live; on failure report it and keep the old one. */
  private async swap (source: string, load: () => Promise<Adapter>): Promise<LiveAdapter> {
    try {
      const live = this.version(await load())
      this.live.set(source, live)
      this.emit('swap', source, live)
      return live
    } catch (err) {
      this.emit('failed', source, err as Error)
      throw err
    }
  }

  /**
   * Install uploaded adapter files: validated from temp files through the
   * same loader, then renamed over the old ones and swapped in. Nothing on
   * disk changes if validation fails.
   */
  async install (source: string, tensors: Uint8Array, metadata: Uint8Array): Promise<LiveAdapter> {
    const m = this.bundle.manifest
    const entry = m.sources[source]
    const tensorRel = entry?.adapter ?? `adapters/${source}.safetensors`
    const metaRel = entry?.metadata ?? `adapters/${source}.json`
    const tag = `.upload-${process.pid}-${Date.now()}`
    const tmpT = tensorRel + tag
    const tmpM = metaRel + tag
    const dir = this.bundle.dir
    try {
      return await this.swap(source, async () => {
        await writeFile(join(dir, tmpT), tensors)
        await writeFile(join(dir, tmpM), metadata)
        const probe = { ...m, sources: { ...m.sources, [source]: { ...(entry ?? {}), adapter: tmpT, metadata: tmpM } } } as typeof m
        const adapter = await loadAdapter(dir, probe, source)
        await rename(join(dir, tmpM), join(dir, metaRel))
        await rename(join(dir, tmpT), join(dir, tensorRel))
        return adapter
      })
    } finally {
      await rm(join(dir, tmpT), { force: true })
      await rm(join(dir, tmpM), { force: true })
    }
  }

  /** Reload a source when its files in the adapters folder change (debounced: editors and copies write in steps). */
  watch (debounceMs = 500): void {
    if (this.watcher !== undefined) return
    const folder = join(this.bundle.dir, 'adapters')
    this.watcher = watch(folder, (_event, file) => {
      if (file === null) return
      const m = /^([a-z0-9][a-z0-9_-]*)\.(safetensors|json)$/.exec(String(file))
      if (m === null || !this.live.has(m[1])) return
      const source = m[1]
      clearTimeout(this.debounce.get(source))
      this.debounce.set(source, setTimeout(() => {
        this.debounce.delete(source)
        this.reload(source).catch(() => { /* counted and logged by the 'failed' listener */ })
      }, debounceMs))
    })
    this.watcher.on('error', err => this.emit('failed', '*', err))
  }

  close (): void {
    this.watcher?.close()
    this.watcher = undefined
    for (const t of this.debounce.values()) clearTimeout(t)
    this.debounce.clear()
  }
}

export { ModelError }
