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

/**
 * One window of lines, as the plugin's windowing hands it over. Each input is
 * either one flat array or T rows: rows are copied straight into the batch,
 * so a caller that holds a vector per line (the sidecar: one cached vector
 * per template) builds no [T, D] copy of its own first.
 */
export interface ScoreWindow {
  /** [T, D] template vectors of the window's lines, row-major (T = embeddings.length / D), or T rows of D (read, never changed). */
  embeddings: Float32Array | readonly Float32Array[]
  /** [T, P] Log-Attention bucket ids of each line's parameters, −1 = none; or T rows of at most P ids each (the rest is −1). */
  paramBuckets: Int32Array | ReadonlyArray<readonly number[]>
  /** [T] 1 = real line, 0 = padding (at the end). Default: every line is real. */
  mask?: Float32Array
}

/** A window given as flat arrays only (tests, benches, callers that build their own [T, D] arrays). */
export interface FlatWindow extends ScoreWindow {
  embeddings: Float32Array
  paramBuckets: Int32Array
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
  const rows = Array.isArray(w.embeddings)
  if (!(rows || w.embeddings instanceof Float32Array) || !(Array.isArray(w.paramBuckets) || w.paramBuckets instanceof Int32Array)) {
    throw new PoolError('POOL_BAD_INPUT', 'a window needs embeddings (a Float32Array, or an array of Float32Array rows) and paramBuckets (an Int32Array, or an array of rows)')
  }
  const T = rows ? w.embeddings.length : w.embeddings.length / D
  if (!Number.isInteger(T) || T < 1) throw new PoolError('POOL_BAD_INPUT', rows ? 'window embeddings have no rows' : `window embeddings hold ${w.embeddings.length} floats, not a positive multiple of D = ${D}`)
  if (rows) {
    for (const r of w.embeddings as readonly Float32Array[]) {
      if (!(r instanceof Float32Array) || r.length !== D) throw new PoolError('POOL_BAD_INPUT', `a window embeddings row must be a Float32Array of D = ${D} floats, got ${r instanceof Float32Array ? r.length : typeof r}`)
    }
  }
  if (Array.isArray(w.paramBuckets)) {
    if (w.paramBuckets.length !== T) throw new PoolError('POOL_BAD_INPUT', `window of ${T} lines has ${w.paramBuckets.length} parameter bucket rows, expected one per line`)
    for (const r of w.paramBuckets as ReadonlyArray<readonly number[]>) {
      if (!Array.isArray(r) || r.length > P) throw new PoolError('POOL_BAD_INPUT', `a parameter bucket row must be an array of at most P = ${P} ids, got ${Array.isArray(r) ? r.length : typeof r}`)
    }
  } else if (w.paramBuckets.length !== T * P) throw new PoolError('POOL_BAD_INPUT', `window of ${T} lines has ${w.paramBuckets.length} parameter buckets, expected T × P = ${T * P}`)
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
    if (Array.isArray(w.embeddings)) for (let i = 0; i < n; i++) embeddings.set(w.embeddings[i], (b * T + i) * D)
    else embeddings.set(w.embeddings as Float32Array, b * T * D)
    if (Array.isArray(w.paramBuckets)) {
      for (let i = 0; i < n; i++) {
        const row = w.paramBuckets[i] as readonly number[]
        const at = (b * T + i) * P
        for (let j = 0; j < row.length; j++) paramBuckets[at + j] = row[j]
      }
    } else paramBuckets.set(w.paramBuckets as Int32Array, b * T * P)
    if (w.mask !== undefined) mask.set(w.mask, b * T)
    else mask.fill(1, b * T, b * T + n)
  }
  return { B, T, embeddings, mask, paramBuckets, lengths: [...lengths] }
}

export function split (score: Float32Array, contribution: Float32Array, T: number, lengths: readonly number[]): WindowScore[] {
  return lengths.map((n, b) => ({ score: score[b], contribution: contribution.subarray(b * T, b * T + n) }))
}
