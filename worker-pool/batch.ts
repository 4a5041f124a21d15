/**
 * Windows in, one padded batch out, and back (pure: no threads, no timers).
 *
 *   window i: embeddings [T_i, D], paramBuckets [T_i, P], mask [T_i]
 *        ─▶ batch: embeddings [B, T, D] (0 pad), mask [B, T] (0 pad), paramBuckets [B, T, P] (−1 pad), T = max T_i
 *   score [B], contribution [B, T] ─▶ window i: score[i], contribution[i·T .. i·T + T_i] (a view, not a copy)
 *
 * Padding at the end is what the encoder was trained with: it changes no
 * score (test/trainer/parity.test.ts checks that on the real encoder).
 */
import { PoolError } from './errors.js'

/** One window of lines, as the plugin's windowing hands it over. */
export interface ScoreWindow {
  /** [T, D] template vectors of the window's lines, row-major. T = embeddings.length / D. */
  embeddings: Float32Array
  /** [T, P] Log-Attention bucket ids of each line's parameters, −1 = none. */
  paramBuckets: Int32Array
  /** [T] 1 = real line, 0 = padding (at the end). Default: every line is real. */
  mask?: Float32Array
}

export interface WindowScore {
  /** Anomaly probability of the window. */
  score: number
  /** [T] each line's share of the logit (which line drove the score); 0 on padding. */
  contribution: Float32Array
}

export interface Batch {
  B: number
  T: number
  embeddings: Float32Array
  mask: Float32Array
  paramBuckets: Int32Array
  /** Lines of each window, to cut the contributions back. */
  lengths: number[]
}

/** Lines of a window, or a POOL_BAD_INPUT error saying what does not fit. */
export function windowLength (w: ScoreWindow, D: number, P: number): number {
  if (!(w.embeddings instanceof Float32Array) || !(w.paramBuckets instanceof Int32Array)) {
    throw new PoolError('POOL_BAD_INPUT', 'a window needs embeddings: Float32Array and paramBuckets: Int32Array')
  }
  const T = w.embeddings.length / D
  if (!Number.isInteger(T) || T < 1) throw new PoolError('POOL_BAD_INPUT', `window embeddings hold ${w.embeddings.length} floats, not a positive multiple of D = ${D}`)
  if (w.paramBuckets.length !== T * P) throw new PoolError('POOL_BAD_INPUT', `window of ${T} lines has ${w.paramBuckets.length} parameter buckets, expected T × P = ${T * P}`)
  if (w.mask !== undefined && (!(w.mask instanceof Float32Array) || w.mask.length !== T)) {
    throw new PoolError('POOL_BAD_INPUT', `window of ${T} lines has a mask of ${w.mask.length}, expected ${T} (Float32Array)`)
  }
  return T
}

export function assemble (windows: readonly ScoreWindow[], lengths: readonly number[], D: number, P: number): Batch {
  const B = windows.length
  const T = Math.max(...lengths)
  const embeddings = new Float32Array(B * T * D)
  const mask = new Float32Array(B * T)
  const paramBuckets = new Int32Array(B * T * P).fill(-1)
  for (let b = 0; b < B; b++) {
    const w = windows[b]
    const n = lengths[b]
    embeddings.set(w.embeddings, b * T * D)
    paramBuckets.set(w.paramBuckets, b * T * P)
    if (w.mask !== undefined) mask.set(w.mask, b * T)
    else mask.fill(1, b * T, b * T + n)
  }
  return { B, T, embeddings, mask, paramBuckets, lengths: [...lengths] }
}

export function split (score: Float32Array, contribution: Float32Array, T: number, lengths: readonly number[]): WindowScore[] {
  return lengths.map((n, b) => ({ score: score[b], contribution: contribution.subarray(b * T, b * T + n) }))
}
