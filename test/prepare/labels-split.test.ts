import t from 'tap'
import { csvFields, parseLabelCsv } from '../../plugin/prepare/labels.js'
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

t.test('the column named label, when the header has one; key = first column', async t => {
  // the layout of openstack_kalaki_raw/instance_labels.csv
  const k = parseLabelCsv('instance_id,label,in_ait_split,raw_files\n000d554a,normal,test_normal,\n0010ba30,Anomaly,test_abnormal,openstack-nova-dhcpoff.log\n')
  t.same([...k.labels], [['000d554a', 0], ['0010ba30', 1]])
  t.same(csvFields('a,"b, c",""," d ""e"" "'), ['a', 'b, c', '', 'd "e"'])
  t.throws(() => parseLabelCsv('id,label,x\nk1\n', 'w.csv'), { code: 'PREPARE_LABELS', message: /w\.csv:2: expected 3 columns/ })
})

t.test('--normal-label: these values normal, every other non-empty value anomalous', async t => {
  const text = 'instance_id,label,in_ait_split\na,normal,x\nb,anomaly_dhcp_off,y\nc,anomaly_other(type2_undefine?),z\nd,,z\ne,Normal,x\n'
  t.throws(() => parseLabelCsv(text, 'i.csv'), { message: /i\.csv:3: unknown label "anomaly_dhcp_off" \(use Normal\/Anomaly or 0\/1, or name the normal values with --normal-label\)/ },
    'without it a value outside the strict table is an error')
  const k = parseLabelCsv(text, 'i.csv', { normalLabels: ['normal'] })
  t.same([...k.labels], [['a', 0], ['b', 1], ['c', 1], ['e', 0]], 'an empty value labels nothing; values match case-insensitively')
  t.equal(k.anomalous, 2)
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
