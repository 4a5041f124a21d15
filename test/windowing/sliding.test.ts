import t from 'tap'
import { SlidingWindows, type Window } from '../../plugin/windowing/index.js'

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)

function addAll (sw: SlidingWindows<number>, items: number[], stream = 's', now = 0): Window<number>[] {
  return items.flatMap(i => sw.add(i, stream, now))
}

t.test('defaults: windows of 20, step = size, every line owned by its only window', async t => {
  const sw = new SlidingWindows<number>()
  t.match(sw.options, { size: 20, step: 20 })
  const out = addAll(sw, range(1, 45))
  t.same(out.map(w => [w.items, w.reason]), [[range(1, 20), 'full'], [range(21, 40), 'full']])
  t.ok(out.every(w => w.owned.length === 20 && w.owned.every(Boolean)))
  t.equal(sw.openCount, 1, 'lines 41..45 wait for their window')
  const rest = sw.flushAll(1)
  t.same(rest.map(w => [w.items, w.owned.every(Boolean), w.reason]), [[range(41, 45), true, 'flush']])
})

t.test('step < size: windows overlap, the first window holding a line owns it', async t => {
  const sw = new SlidingWindows<number>({ size: 4, step: 2 })
  const out = addAll(sw, range(1, 11))
  t.same(out.map(w => w.items), [[1, 2, 3, 4], [3, 4, 5, 6], [5, 6, 7, 8], [7, 8, 9, 10]])
  t.same(out.map(w => w.owned), [
    [true, true, true, true],
    [false, false, true, true],
    [false, false, true, true],
    [false, false, true, true],
  ])
  const [tail, ...none] = sw.flushAll(1)
  t.equal(none.length, 0)
  t.same([tail.items, tail.owned], [[9, 10, 11], [false, false, true]], 'the partial window keeps its context')
})

t.test('a stream holding only owned context ends without a window', async t => {
  const sw = new SlidingWindows<number>({ size: 4, step: 1, idleMs: 100 })
  addAll(sw, range(1, 4))
  t.equal(sw.openCount, 1)
  t.same(sw.tick(100), [])
  t.equal(sw.openCount, 0)
  t.equal(sw.nextDeadline(), undefined)
})

t.test('every line is owned exactly once, for every size/step, under every limit', async t => {
  let seed = 7
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const bit = { full: 0, idle: 0, max_age: 0, evicted: 0, flush: 0 }
  for (let size = 1; size <= 6; size++) {
    for (let step = 1; step <= size; step++) {
      const sw = new SlidingWindows<number>({ size, step, idleMs: 40, maxAgeMs: 90, maxOpen: 3 })
      const out: Window<number>[] = []
      let now = 0
      for (let i = 0; i < 600; i++) {
        now += rand(15)
        out.push(...sw.add(i, `stream-${rand(5)}`, now))
        if (rand(30) === 0) out.push(...sw.tick(now))
      }
      out.push(...sw.flushAll(now))
      const owned = out.flatMap(w => w.items.filter((_, i) => w.owned[i])).sort((a, b) => a - b)
      t.same(owned, range(0, 599), `size ${size} step ${step}`)
      t.ok(out.every(w => w.items.length <= size && w.owned.length === w.items.length))
      for (const w of out) bit[w.reason as keyof typeof bit]++
    }
  }
  t.ok(Object.values(bit).every(n => n > 0), `every close reason occurred: ${JSON.stringify(bit)}`)
})

t.test('streams are windowed separately', async t => {
  const sw = new SlidingWindows<string>({ size: 2 })
  const out = ['a1', 'b1', 'a2', 'c1', 'b2'].flatMap(x => sw.add(x, `src:${x[0]}`, 0))
  t.same(out.map(w => [w.key, w.items]), [['src:a', ['a1', 'a2']], ['src:b', ['b1', 'b2']]])
  t.equal(sw.openCount, 1)
  t.not(out[0].id, out[1].id)
})

t.test('an idle stream flushes its partial window', async t => {
  const sw = new SlidingWindows<number>({ size: 5, idleMs: 1000 })
  sw.add(1, 's', 0)
  sw.add(2, 's', 200)
  sw.add(3, 's', 400)
  t.equal(sw.nextDeadline(), 1400)
  t.same(sw.tick(1399), [])
  t.match(sw.tick(1400), [{ key: 's', items: [1, 2, 3], owned: [true, true, true], openedAt: 0, closedAt: 1400, reason: 'idle' }])
  t.equal(sw.openCount, 0)
  t.equal(sw.stats().closed.idle, 1)
})

t.test('a trickling stream flushes once a line has waited maxAgeMs', async t => {
  const sw = new SlidingWindows<number>({ size: 20, idleMs: 1000, maxAgeMs: 3000 })
  const out: Window<number>[] = []
  for (let i = 0; i < 5; i++) out.push(...sw.add(i, 's', i * 900))
  t.same(out.map(w => [w.items, w.reason]), [[[0, 1, 2, 3], 'max_age']], 'line 0 arrived at 0, flushed before line 4 at 3600')
  t.equal(sw.nextDeadline(), 4600, 'line 4 now waits alone; its idle deadline is first')
})

t.test('the open cap flushes the least recently active stream', async t => {
  const sw = new SlidingWindows<number>({ size: 10, maxOpen: 2 })
  sw.add(1, 'a', 0)
  sw.add(2, 'b', 1)
  sw.add(3, 'a', 2)
  const out = sw.add(4, 'c', 3)
  t.same(out.map(w => [w.key, w.items, w.reason]), [['b', [2], 'evicted']])
  t.equal(sw.openCount, 2)
  t.equal(sw.stats().closed.evicted, 1)
})

t.test('nextDeadline drives a single timer until every stream is out', async t => {
  const sw = new SlidingWindows<number>({ size: 2, step: 1, idleMs: 100, maxAgeMs: 150 })
  t.equal(sw.nextDeadline(), undefined)
  sw.add(1, 'a', 0)
  sw.add(2, 'b', 20)
  t.equal(sw.nextDeadline(), 100, 'a idles first')
  t.same(sw.add(3, 'a', 90).map(w => w.items), [[1, 3]], 'a is full; 3 stays as owned context')
  const ticks: number[] = []
  const fired: [number, string, number[]][] = []
  for (let at = sw.nextDeadline(); at !== undefined; at = sw.nextDeadline()) {
    ticks.push(at)
    for (const w of sw.tick(at)) fired.push([at, w.key, w.items])
  }
  t.same(ticks, [120, 190])
  t.same(fired, [[120, 'b', [2]]], 'a ends silently at 190: its lines are owned')
  t.equal(sw.openCount, 0)
})

t.test('bad options fail at construction', async t => {
  t.throws(() => new SlidingWindows({ size: 0 }), RangeError)
  t.throws(() => new SlidingWindows({ size: 4, step: 5 }), RangeError, 'a gap would leave lines in no window')
  t.throws(() => new SlidingWindows({ step: 0 }), RangeError)
  t.throws(() => new SlidingWindows({ maxAgeMs: 0 }), RangeError)
})

t.test('closeLeastRecent ends the least recently active stream early (held_limit), never losing a line', async t => {
  const sw = new SlidingWindows<number>({ size: 4, step: 2 })
  for (const [i, s] of [[1, 'a'], [2, 'a'], [3, 'a'], [4, 'a'], [5, 'b'], [6, 'a']] as const) sw.add(i, s, i)
  t.equal(sw.oldestActivity(), 5, 'b had its last line at 5, a at 6')
  t.match(sw.closeLeastRecent(7), { key: 'b', items: [5], owned: [true], reason: 'held_limit' })
  t.match(sw.closeLeastRecent(7), { key: 'a', items: [3, 4, 6], owned: [false, false, true], reason: 'held_limit' }, 'a: its context is owned by the full window')
  t.equal(sw.closeLeastRecent(7), undefined, 'nothing open')
  t.same(sw.stats().early, 2, 'counted apart from the limits of its own')
  t.equal(sw.stats().closed.full, 1)
})
