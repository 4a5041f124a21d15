/**
 * The pure pieces of the pool: padding windows into one batch and cutting the
 * results back (batch.ts), and which adapter versions stay held (versions.ts).
 */
import t from 'tap'
import { assemble, split, windowLength } from '../../worker-pool/batch.js'
import { SourceVersions } from '../../worker-pool/versions.js'
import { threadPlan } from '../../worker-pool/threads.js'

const D = 2
const P = 1
const win = (lines: number, v: number) => ({
  embeddings: new Float32Array(lines * D).fill(v),
  paramBuckets: new Int32Array(lines * P).fill(v),
})

t.test('windows of 1 and 3 lines pad to T = 3 at the end', async t => {
  const windows = [win(1, 5), win(3, 7)]
  const b = assemble(windows, windows.map(w => windowLength(w, D, P)), D, P)
  t.same([b.B, b.T], [2, 3])
  t.same([...b.embeddings], [5, 5, 0, 0, 0, 0, 7, 7, 7, 7, 7, 7], 'embeddings: 0 on padding')
  t.same([...b.mask], [1, 0, 0, 1, 1, 1], 'mask: 1 on real lines only')
  t.same([...b.paramBuckets], [5, -1, -1, 7, 7, 7], 'parameter buckets: −1 (none) on padding')
  const out = split(new Float32Array([0.1, 0.9]), new Float32Array([1, 0, 0, 2, 3, 4]), b.T, b.lengths)
  t.same(out.map(r => [...r.contribution]), [[1], [2, 3, 4]], 'each window gets its own lines\' contributions back')
  t.same(out.map(r => Math.round(r.score * 10)), [1, 9])
})

t.test('a window given as rows (a vector and a short bucket list per line) makes the same batch as the flat arrays', async t => {
  const flat = [{ embeddings: new Float32Array([1, 2, 3, 4]), paramBuckets: new Int32Array([9, -1]) }, win(1, 5)]
  const rows = [
    { embeddings: [new Float32Array([1, 2]), new Float32Array([3, 4])], paramBuckets: [[9], []] },
    { embeddings: [new Float32Array([5, 5])], paramBuckets: [[5]] },
  ]
  const a = assemble(flat, flat.map(w => windowLength(w, D, P)), D, P)
  const b = assemble(rows, rows.map(w => windowLength(w, D, P)), D, P)
  t.same(rows.map(w => windowLength(w, D, P)), [2, 1], 'T is the number of rows')
  t.same([...b.embeddings], [...a.embeddings])
  t.same([...b.paramBuckets], [9, -1, 5, -1], 'a short bucket row is padded with −1, like the padding lines')
  t.same([...b.mask], [...a.mask])
})

t.test('a window\'s own mask is kept', async t => {
  const w = { ...win(2, 1), mask: new Float32Array([1, 0]) }
  t.same([...assemble([w], [2], D, P).mask], [1, 0])
})

t.test('windows that do not fit D and P are refused with POOL_BAD_INPUT', async t => {
  const bad = [
    { embeddings: new Float32Array(3), paramBuckets: new Int32Array(1) },
    { embeddings: new Float32Array(0), paramBuckets: new Int32Array(0) },
    { embeddings: new Float32Array(4), paramBuckets: new Int32Array(3) },
    { embeddings: new Float32Array(4), paramBuckets: new Int32Array(2), mask: new Float32Array(3) },
    { embeddings: [1, 2] as unknown as Float32Array, paramBuckets: new Int32Array(1) },
    { embeddings: [], paramBuckets: [] },
    { embeddings: [new Float32Array(3)], paramBuckets: [[1]] },
    { embeddings: [new Float32Array(2), [0, 0] as unknown as Float32Array], paramBuckets: [[1], [2]] },
    { embeddings: [new Float32Array(2)], paramBuckets: [[1, 2]] },
    { embeddings: [new Float32Array(2)], paramBuckets: [[1], [2]] },
    { embeddings: [new Float32Array(2)], paramBuckets: new Int32Array(2) },
  ]
  for (const w of bad) t.throws(() => windowLength(w, D, P), { name: 'PoolError', code: 'POOL_BAD_INPUT' })
})

t.test('a version is held while it is the latest for its source or windows still use it', async t => {
  const tensors = [{ name: 'head.bias', shape: [1], data: new Float32Array([0.5]) }]
  const v = new SourceVersions()
  const shared = v.acquire('hdfs', 'a', tensors, 3)
  t.same([...new Float32Array(shared.buffer)], [0.5], 'the tensors are copied into shared memory')
  tensors[0].data[0] = 9
  t.same([...new Float32Array(shared.buffer)], [0.5], 'later changes by the caller do not leak in')
  v.acquire('bgl', 'a', tensors, 1)
  v.acquire('hdfs', 'b', tensors, 1)
  t.same(v.live().sort(), ['bgl@a', 'hdfs@a', 'hdfs@b'], 'the swapped-out hdfs@a is kept while its 3 windows wait')
  v.release('hdfs@a', 2)
  t.ok(v.live().includes('hdfs@a'), 'one window still uses it')
  v.release('hdfs@a', 1)
  t.same(v.live().sort(), ['bgl@a', 'hdfs@b'], 'then it is dropped')
  v.release('hdfs@b', 1)
  v.release('bgl@a', 1)
  t.same(v.live().sort(), ['bgl@a', 'hdfs@b'], 'the latest version of each source stays with no windows')
  t.throws(() => v.acquire('hdfs', 'c', [{ name: 'x', shape: [2], data: new Float32Array(3) }], 1), { code: 'POOL_BAD_INPUT' })
  t.same(v.live().sort(), ['bgl@a', 'hdfs@b'], 'a refused version changes nothing')
})

t.test('default threads × ORT threads fill the cores without oversubscribing', async t => {
  t.same(threadPlan(2), { threads: 2, ortThreads: 1 }, 'nothing given: one ORT thread per worker, a worker per core')
  t.same(threadPlan(16, 4), { threads: 4, ortThreads: 4 }, 'threads given: ORT threads share the rest')
  t.same(threadPlan(16, undefined, 8), { threads: 2, ortThreads: 8 }, 'ORT threads given: as many workers as fit')
  t.same(threadPlan(2, 3, 2), { threads: 3, ortThreads: 2 }, 'both given: as asked')
})
