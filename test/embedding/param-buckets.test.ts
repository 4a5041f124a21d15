import t from 'tap'
import { fnv1a32 } from '../../plugin/embedding/hash.js'
import { paramBucket, paramBucketList, paramBuckets, PARAM_PAD, DEFAULT_PARAM_BUCKETS } from '../../plugin/embedding/param-buckets.js'

// Reference: FNV-1a over TextEncoder bytes (slow, obviously right).
function reference (s: string): number {
  let h = 0x811c9dc5
  for (const b of new TextEncoder().encode(s)) h = Math.imul(h ^ b, 0x01000193) >>> 0
  return h >>> 0
}

t.test('FNV-1a 32 matches the published test vectors', async t => {
  t.equal(fnv1a32(''), 0x811c9dc5)
  t.equal(fnv1a32('a'), 0xe40c292c)
  t.equal(fnv1a32('foobar'), 0xbf9cf968)
})

t.test('FNV-1a hashes UTF-8 bytes, as Python would', async t => {
  for (const s of ['blk_-1608999687919862906', '10.251.31.5:50010', 'é', 'naïve café', '日本語', '😀x', 'a\ud800b', '\udc00']) {
    t.equal(fnv1a32(s), reference(s), JSON.stringify(s))
  }
})

t.test('a line keeps its first P parameters, in order, padded with -1', async t => {
  const row = paramBuckets(['a', 'b', 'c'], { buckets: 1024, maxParams: 5 })
  t.same([...row], [reference('a') % 1024, reference('b') % 1024, reference('c') % 1024, PARAM_PAD, PARAM_PAD])
  const many = paramBuckets(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'])
  t.equal(many.length, 8, 'default P is 8')
  t.equal(many[7], paramBucket('8'))
  t.same([...paramBuckets([], { buckets: 16, maxParams: 3 })], [-1, -1, -1])
  t.same(paramBucketList(['a', 'b', 'c'], { buckets: 1024, maxParams: 5 }), [...row].slice(0, 3), 'the unpadded list: the same ids, no -1')
  t.same(paramBucketList(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']), [...many], 'cut at P like the padded row')
})

t.test('buckets stay in range and the same value always lands in the same bucket', async t => {
  const seen = new Set<number>()
  for (let i = 0; i < 20000; i++) seen.add(paramBucket(`v${i}`))
  t.ok([...seen].every(b => Number.isInteger(b) && b >= 0 && b < DEFAULT_PARAM_BUCKETS), 'all in [0, B)')
  t.ok(seen.size > 1000, `20,000 values spread over ${seen.size} of 1024 buckets`)
  t.equal(paramBucket('10.251.31.5'), paramBucket('10.251.31.5'))
  t.not(paramBucket('10.251.31.5', 1 << 20), paramBucket('10.251.31.6', 1 << 20))
})
