/**
 * Windows of line indices -> labels, start times, and the [N, T] / [N, T, P]
 * arrays, rows in split order.
 *
 * Label of a window: 1 when its session key is anomalous in a by-key labels
 * file, or when any line it holds is anomalous (first column, or by-line
 * labels file). Start time: the event time of its first line.
 * Truncation: a window longer than T keeps its first T lines (counted in meta).
 */
import { type Window } from '../windowing/index.js'
import { type LabelTable } from './labels.js'
import { fileOfLine, type Lines } from './passes.js'
import { type WindowInfo } from './write-output.js'

export function labelWindows (windows: Window<number>[], lines: Lines, labels: LabelTable | undefined): { starts: Float64Array, labels: Uint8Array, unlabeled: number } {
  const N = windows.length
  const starts = new Float64Array(N)
  const out = new Uint8Array(N)
  let unlabeled = 0
  for (let w = 0; w < N; w++) {
    const win = windows[w]
    starts[w] = lines.time[win.items[0]]
    let y = 0
    if (labels?.by === 'key') {
      const l = labels.labels.get(win.key)
      if (l === undefined) unlabeled++
      else y = l
    }
    for (const i of win.items) if (lines.label[i] === 1) { y = 1; break }
    out[w] = y
  }
  return { starts, labels: out, unlabeled }
}

export interface WindowArrays {
  windows: Int32Array
  buckets: Int32Array
  labels: Uint8Array
  starts: Float64Array
  info: WindowInfo[]
  truncated: number
}

export function windowArrays (o: {
  windows: Window<number>[]
  order: Int32Array
  lines: Lines
  labels: Uint8Array
  starts: Float64Array
  T: number
  P: number
  /** paths of the input files, indexed as Lines.fileStart */
  files: readonly string[]
}): WindowArrays {
  const { windows, order, lines, T, P } = o
  const N = windows.length
  const winArr = new Int32Array(N * T).fill(-1)
  const bucketArr = new Int32Array(N * T * P).fill(-1)
  const labelArr = new Uint8Array(N)
  const startArr = new Float64Array(N)
  const info: WindowInfo[] = new Array(N)
  let truncated = 0
  for (let r = 0; r < N; r++) {
    const win = windows[order[r]]
    labelArr[r] = o.labels[order[r]]
    startArr[r] = o.starts[order[r]]
    const first = win.items[0]
    const last = win.items[win.items.length - 1]
    const f = fileOfLine(lines, first)
    const g = fileOfLine(lines, last)
    info[r] = { key: win.key, file: o.files[f], first_line: lines.lineNo[first], last_line: lines.lineNo[last], size: win.items.length }
    // a session keyed by pattern or field may go on in the next file
    if (g !== f) info[r].last_file = o.files[g]
    const n = Math.min(win.items.length, T)
    if (win.items.length > T) truncated++
    for (let j = 0; j < n; j++) {
      const i = win.items[j]
      winArr[r * T + j] = lines.row[i]
      bucketArr.set(lines.params.subarray(i * P, (i + 1) * P), (r * T + j) * P)
    }
  }
  return { windows: winArr, buckets: bucketArr, labels: labelArr, starts: startArr, info, truncated }
}
