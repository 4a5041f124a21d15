/**
 * The Scorer the sidecar uses: the registry says which adapter is live for a
 * source, the worker pool runs the windows with exactly that adapter version.
 */
import type { LiveAdapter, ModelRegistry } from '../../models/registry.js'
import type { ScoringPool } from '../../worker-pool/pool.js'
import type { AdapterRef, Scorer, WindowInput, WindowScore } from './scorer.js'

export class ModelScorer implements Scorer {
  private gate: Promise<void> = Promise.resolve()
  constructor (private readonly registry: ModelRegistry, private readonly pool: ScoringPool, private readonly adapterOf: (source: string) => string = s => s) {}

  adapter (source: string): AdapterRef | undefined {
    const live = this.registry.current(this.adapterOf(source))
    return live === undefined ? undefined : this.ref(live)
  }

  private ref (live: LiveAdapter): AdapterRef {
    return {
      version: live.version,
      threshold: live.adapter.threshold,
      rule: live.decision.rule,
      normalTemplates: live.decision.normalTemplates,
      model: this.registry.name,
      adapter: `${live.adapter.source}@${live.adapter.meta.created}`,
    }
  }

  async score (source: string, windows: WindowInput[]): Promise<{ adapter: AdapterRef, scores: WindowScore[] }> {
    const name = this.adapterOf(source)
    // Read the live adapter once: its tensors, version, threshold, rule and
    // template table travel together, so a swap during the call cannot mix two adapters.
    const live = this.registry.current(name)
    if (live === undefined) throw Object.assign(new Error(`no adapter for source "${name}"`), { code: 'ADAPTER_NOT_FOUND' })
    const step = Math.max(1, Math.floor(this.pool.maxQueue / 2))
    const parts: Array<Promise<WindowScore[]>> = []
    for (let i = 0; i < windows.length; i += step) {
      const part = windows.slice(i, i + step).map(w => ({ embeddings: w.embeddings, paramBuckets: w.buckets }))
      parts.push(this.whenRoom(part.length).then(() => this.pool.score(name, live.version, live.adapter.tensors, part)))
    }
    return { adapter: this.ref(live), scores: (await Promise.all(parts)).flat() }
  }

  /**
   * A full pool queue is waited out, never failed: windows queue here, in
   * call order, until the pool has room. Their records stay pending in the
   * pipeline, so `limits.max_pending_records` stops the input sockets while
   * the pool catches up (backpressure to the senders).
   */
  private whenRoom (n: number): Promise<void> {
    const turn = this.gate.then(() => this.pool.whenRoom(n))
    // the next caller checks for room only after this one has submitted (then-callbacks run in order)
    this.gate = turn.catch(() => {})
    return turn
  }
}
