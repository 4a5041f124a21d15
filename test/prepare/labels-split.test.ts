import t from 'tap'
import { parseLabelCsv } from '../../plugin/prepare/labels.js'
import { splitWindows } from '../../plugin/prepare/split.js'

t.test('labels by key (loghub anomaly_label.csv) and by line', async t => {
  const k = parseLabelCsv('BlockId,Label\nblk_1,Normal\r\nblk_-2,Anomaly\n"blk_3",anomaly\n\n')
  t.equal(k.by, 'key')
  t.same([...k.labels], [['blk_1', 0], ['blk_-2', 1], ['blk_3', 1]])
  t.equal(k.anomalous, 2)
  const l = parseLabelCsv('line,label\n3,1\n7,0\n3,1\n')
  t.equal(l.by, 'line')
  t.equal(l.anomalous, 1, 'a repeated row counts once')
  t.equal(l.labels.get('3'), 1)
})

t.test('a typo in a label or line number is an error naming the row', async t => {
  t.throws(() => parseLabelCsv('BlockId,Label\nblk_1,Normal\nblk_2,Anomly\n', 'x.csv'), { code: 'PREPARE_LABELS', message: /x\.csv:3: unknown label "anomly"/ })
  t.throws(() => parseLabelCsv('line,label\nfour,1\n', 'y.csv'), { message: /y\.csv:2: line number must be an integer/ })
  t.throws(() => parseLabelCsv('', 'z.csv'), { message: /empty labels file/ })
})

t.test('chronological split: sorted by start time, test last, validation at the end of train', async t => {
  const starts = Float64Array.from([50, 10, 40, 20, 30, 0, 90, 80, 70, 60])
  const s = splitWindows(starts, { method: 'chronological', testFraction: 0.2, valFraction: 0.25, seed: 1 })
  t.same([...s.order].map(i => starts[i]), [0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
  t.same(s.test, [8, 10])
  t.same(s.validation, [6, 8])
  t.same(s.train, [0, 6])
})

t.test('equal start times keep file order', async t => {
  const s = splitWindows(Float64Array.from([5, 5, 5, 1]), { method: 'chronological', testFraction: 0, valFraction: 0, seed: 0 })
  t.same([...s.order], [3, 0, 1, 2])
})

t.test('random split: a permutation, seeded, each part in time order', async t => {
  const starts = Float64Array.from({ length: 50 }, (_, i) => i)
  const a = splitWindows(starts, { method: 'random', testFraction: 0.2, valFraction: 0.1, seed: 3 })
  const b = splitWindows(starts, { method: 'random', testFraction: 0.2, valFraction: 0.1, seed: 3 })
  const c = splitWindows(starts, { method: 'random', testFraction: 0.2, valFraction: 0.1, seed: 4 })
  t.same([...a.order].sort((x, y) => x - y), [...starts])
  t.same([...a.order], [...b.order])
  t.notSame([...a.order], [...c.order])
  for (const [lo, hi] of [a.train, a.validation, a.test]) {
    const part = [...a.order.subarray(lo, hi)]
    t.same(part, [...part].sort((x, y) => x - y))
  }
  t.same([a.train, a.validation, a.test], [[0, 36], [36, 40], [40, 50]])
})
