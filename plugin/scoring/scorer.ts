/**
 * What the scoring stage needs from the model side: the live adapter of a
 * source, and scores for windows. The worker pool with the model registry
 * implements it (models/registry.ts + worker-pool/pool.ts).
 */
import type { DecisionRule } from '../../models/manifest.js'

export interface AdapterRef {
  /** Changes on every hot swap; a score call carries the version it was issued with. */
  version: string
  threshold: number
  /** What `is_anomaly` means (models/manifest.ts DECISION_RULES); `model` for adapters without one. */
  rule: DecisionRule
  /** Template id -> share of the normal training windows holding it (rule and `top_line`); undefined: no table. */
  normalTemplates?: ReadonlyMap<string, number>
  /** Bundle / encoder name, reported in `anomaly.model`. */
  model: string
  /** Adapter name, reported in `anomaly.adapter` (e.g. `hdfs@2026-11-23T12:00:00Z`). */
  adapter: string
}

/**
 * One window as the encoder takes it: T real lines (no padding), one row per
 * line. The rows are references (a template's vector is shared by every line
 * of that template), copied once, into the worker pool's batch.
 */
export interface WindowInput {
  T: number
  /** T template vectors of D floats (read only) */
  embeddings: readonly Float32Array[]
  /** T rows of at most P parameter bucket ids (the rest of the encoder's row is −1) */
  buckets: ReadonlyArray<readonly number[]>
}

export interface WindowScore {
  score: number
  /** [T] each line's contribution to the score */
  contribution: Float32Array
}

export interface Scorer {
  /** The adapter live now, or undefined when the source has none (its records pass unscored). */
  adapter (source: string): AdapterRef | undefined
  /** Score windows with the adapter live at the call; says which one it was (hot swap never mixes two in one call). */
  score (source: string, windows: WindowInput[]): Promise<{ adapter: AdapterRef, scores: WindowScore[] }>
}
