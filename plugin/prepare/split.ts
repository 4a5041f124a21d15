/**
 * Train / validation / test split of the windows, as contiguous index ranges
 * of the output arrays (prepare writes the windows in the order returned here).
 *
 * chronological (default): windows sorted by start time (ties: file order);
 *   test = the last `testFraction`, validation = the last `valFraction` of
 *   what is left (the end of train), train = the rest. Nothing from the
 *   future leaks into training, as in production.
 * random (only when asked, and recorded as such): a seeded Fisher-Yates
 *   shuffle deals the windows into the three parts; inside each part the
 *   windows are again in time order.
 */
import { mulberry32 } from '../embedding/distill.js'

export type SplitMethod = 'chronological' | 'random'

export interface SplitOptions {
  method: SplitMethod
  testFraction: number
  valFraction: number
  seed: number
}

export interface SplitRanges {
  /** order[i] = index (in creation order) of the window stored at row i */
  order: Int32Array
  train: [number, number]
  validation: [number, number]
  test: [number, number]
}

export function splitWindows (startTimes: Float64Array, opts: SplitOptions): SplitRanges {
  const n = startTimes.length
  if (!(opts.testFraction >= 0 && opts.testFraction < 1)) throw new RangeError(`test fraction must be in [0, 1), got ${opts.testFraction}`)
  if (!(opts.valFraction >= 0 && opts.valFraction < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${opts.valFraction}`)
  const nTest = Math.round(n * opts.testFraction)
  const nTrainAll = n - nTest
  const nVal = Math.round(nTrainAll * opts.valFraction)
  const nTrain = nTrainAll - nVal
  const byTime = (a: number, b: number): number => (startTimes[a] - startTimes[b]) || (a - b)
  const idx = Array.from({ length: n }, (_, i) => i)
  let order: number[]
  if (opts.method === 'chronological') {
    order = idx.sort(byTime)
  } else {
    const rand = mulberry32(opts.seed)
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      const t = idx[i]; idx[i] = idx[j]; idx[j] = t
    }
    order = [
      ...idx.slice(0, nTrain).sort(byTime),
      ...idx.slice(nTrain, nTrainAll).sort(byTime),
      ...idx.slice(nTrainAll).sort(byTime),
    ]
  }
  return { order: Int32Array.from(order), train: [0, nTrain], validation: [nTrain, nTrainAll], test: [nTrainAll, n] }
}
