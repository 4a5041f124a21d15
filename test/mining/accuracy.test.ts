import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { groupingAccuracy } from '../../plugin/mining/grouping-metrics.js'
import { datasetsDir, evaluateSystem, PUBLISHED_GA } from '../../bench/drain-accuracy.js'

t.test('grouping accuracy: a line counts only if its whole group is exactly right', async (t) => {
  //            lines:  0    1    2    3    4    5
  const truth = ['A', 'A', 'B', 'B', 'C', 'D']
  const pred = ['x', 'x', 'y', 'z', 'w', 'w']
  // group x == A (2 lines right); B split into y,z (wrong); C and D merged into w (wrong)
  const s = groupingAccuracy(truth, pred)
  t.equal(s.ga, 2 / 6)
  t.equal(s.precision, 1 / 4, '1 of 4 predicted groups is exact')
  t.equal(s.recall, 1 / 4, '1 of 4 true groups is found')
  t.equal(s.fga, 1 / 4)
  t.equal(groupingAccuracy(truth, ['a', 'a', 'b', 'b', 'c', 'd']).ga, 1, 'labels need not match, only groups')
  t.throws(() => groupingAccuracy(['A'], []), RangeError)
})

// Regression floor: the shipped presets must keep Drain at (or above) its published GA.
// Presets were tuned on these same 2k lines (see bench/RESULTS.md), so this
// guards against regressions; it is not evidence of accuracy on unseen logs.
const TOLERANCE = 0.005
const root = datasetsDir()
const missing = existsSync(join(root, 'loghub2_2k_corrected')) ? false : `datasets not found at ${root} (set FLUENT_ANOMALY_DATASETS)`
t.test('GA floor on Loghub 2k with the shipped presets', { skip: missing }, async (t) => {
  for (const system of ['HDFS', 'Apache', 'Linux', 'Proxifier']) {
    const s = evaluateSystem(system)
    t.ok(s.ga >= PUBLISHED_GA[system]! - TOLERANCE, `${system}: GA ${s.ga.toFixed(4)} >= published ${PUBLISHED_GA[system]} - ${TOLERANCE}`)
    t.equal(s.lines, 2000, `${system}: all 2,000 lines scored`)
  }
})
