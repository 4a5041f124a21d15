/**
 * `recording-scorer`: a Scorer that keeps every window input it is given and
 * answers a score derived from the input itself (the first embedding value,
 * squashed), with the contribution on the last line. For stage tests that
 * need no worker pool. `ref` is the adapter it reports (rule `model`, no
 * template table, unless a test says otherwise).
 */
import type { AdapterRef, Scorer, WindowInput, WindowScore } from '../../plugin/scoring/scorer.js'

export class RecordingScorer implements Scorer {
  readonly inputs: WindowInput[] = []
  ref: AdapterRef
  constructor (ref: Partial<AdapterRef> = {}) {
    this.ref = { version: 'v1', threshold: 0.5, model: 'test-model', adapter: 'hdfs@test', rule: 'model', ...ref }
  }

  adapter (): AdapterRef | undefined { return this.ref }
  async score (_source: string, windows: WindowInput[]): Promise<{ adapter: AdapterRef, scores: WindowScore[] }> {
    this.inputs.push(...windows)
    return { adapter: this.ref, scores: windows.map(w => ({ score: 1 / (1 + Math.exp(-w.embeddings[0][0] * 10)), contribution: Float32Array.from({ length: w.T }, (_, i) => i === w.T - 1 ? 1 : 0) })) }
  }
}
