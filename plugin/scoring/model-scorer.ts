/**
 * The Scorer the sidecar uses: the registry says which adapter is live for a
 * source, the worker pool runs the windows with exactly that adapter version.
 */
import type { LiveAdapter, ModelRegistry } from '../../models/registry.js'
import type { ScoringPool } from '../../worker-pool/pool.js'
import type { AdapterRef, Scorer, WindowInput, WindowScore } from './scorer.js'


export class ModelScorer implements Scorer {
  constructor (private readonly registry: ModelRegistry, private readonly pool: ScoringPool, private readonly adapterOf: (source: string) => string = s => s) {}

  adapter (source: string): AdapterRef | undefined {
    const live = this.registry.current(this.adapterOf(source))
    return live === undefined ? undefined : this.ref(live)
  }

  private ref (live: LiveAdapter): AdapterRef {
    return {
      version: live.version,
      threshold: live.adapter.threshold,
      model: this.registry.name,
      adapter: `${live.adapter.source}@${live.adapter.meta.created}`,
    }
  }

  async score (source: string, windows: WindowInput[]): Promise<{ adapter: AdapterRef, scores: WindowScore[] }> {
    const name = this.adapterOf(source)
    // Read the live adapter once: its tensors, version and threshold travel
    // together, so a swap during the call cannot mix two adapters.
    const live = this.registry.current(name)
    if (live === undefined) throw Object.assign(new Error(`no adapter for source "${name}"`), { code: 'ADAPTER_NOT_FOUND' })
    const scores = await this.pool.score(name, live.version, live.adapter.tensors, windows.map(w => ({ embeddings: w.embeddings, paramBuckets: w.buckets })))
    return { adapter: this.ref(live), scores }
  }
}
