import t from 'tap'
import { SessionWindows, type Window } from '../../plugin/windowing/index.js'

const BLK = /blk_-?\d+/

/** Every line id that windows report as owned, sorted. */
function ownedIds (windows: Window<number>[]): number[] {
  return windows.flatMap(w => w.items.filter((_, i) => w.owned[i])).sort((a, b) => a - b)
}

t.test('a session closes after idleMs without a line', async t => {
  const sw = new SessionWindows<number>({ keyPattern: BLK, idleMs: 1000 })
  sw.add(1, 'Receiving block blk_7', {}, 0)
  sw.add(2, 'Received block blk_7', {}, 500)
  t.same(sw.tick(1499), [], 'not yet idle: the last line was 999 ms ago')
  const [w, ...rest] = sw.tick(1500)
  t.equal(rest.length, 0)
  t.match(w, { key: 'blk_7', items: [1, 2], owned: [true, true], openedAt: 0, closedAt: 1500, reason: 'idle' })
  t.equal(sw.openCount, 0)
  const next = sw.add(3, 'Deleting block blk_7', {}, 1600)
  t.same(next.closed, [])
  const [again] = sw.flushAll(1700)
  t.not(again.id, w.id, 'a later session with the same key gets a new id')
  t.same(again.items, [3])
})

t.test('an idle session is closed by the next add even without tick', async t => {
  const sw = new SessionWindows<number>({ keyPattern: BLK, idleMs: 1000 })
  sw.add(1, 'blk_1', {}, 0)
  const { closed } = sw.add(2, 'blk_2', {}, 5000)
  t.equal(closed.length, 1)
  t.match(closed[0], { key: 'blk_1', items: [1], reason: 'idle' })
  t.equal(sw.openCount, 1)
})

t.test('a session closes at maxLength lines and the next line opens a new one', async t => {
  const sw = new SessionWindows<number>({ keyPattern: BLK, maxLength: 3 })
  const out: Window<number>[] = []
  for (let i = 1; i <= 7; i++) out.push(...sw.add(i, 'blk_9 x', {}, i).closed)
  t.same(out.map(w => [w.items, w.reason]), [[[1, 2, 3], 'max_length'], [[4, 5, 6], 'max_length']])
  t.equal(sw.openCount, 1)
  const rest = sw.flushAll(10)
  t.same(rest.map(w => [w.items, w.reason]), [[[7], 'flush']])
  t.equal(new Set([...out, ...rest].map(w => w.id)).size, 3, 'ids are unique')
  t.same(sw.stats().closed, { idle: 0, max_length: 2, max_age: 0, evicted: 0, full: 0, unkeyed: 0, flush: 1 })
})

t.test('a busy session closes at maxAgeMs after its first line', async t => {
  const sw = new SessionWindows<number>({ keyPattern: BLK, idleMs: 10_000, maxAgeMs: 1000 })
  for (const [i, now] of [0, 300, 600, 900].entries()) sw.add(i, 'blk_5', {}, now)
  t.equal(sw.nextDeadline(), 1000, 'age deadline comes before the idle one')
  const { closed } = sw.add(4, 'blk_5', {}, 1200)
  t.same(closed.map(w => [w.items, w.reason, w.openedAt]), [[[0, 1, 2, 3], 'max_age', 0]])
  t.equal(sw.nextDeadline(), 2200, 'the new session started with line 4')
})

t.test('the open cap emits the least recently active session, never drops it', async t => {
  const sw = new SessionWindows<number>({ keyPattern: BLK, maxOpen: 2 })
  sw.add(1, 'blk_1', {}, 0)
  sw.add(2, 'blk_2', {}, 1)
  sw.add(3, 'blk_1', {}, 2) // blk_1 is now the more recent one
  const { closed } = sw.add(4, 'blk_3', {}, 3)
  t.same(closed.map(w => [w.key, w.items, w.reason]), [['blk_2', [2], 'evicted']])
  t.equal(sw.openCount, 2)
  t.equal(sw.stats().closed.evicted, 1)
})

t.test('under a tight cap every line still comes out, owned exactly once', async t => {
  let seed = 42
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const sw = new SessionWindows<number>({ keyPattern: BLK, maxOpen: 5, maxLength: 7, idleMs: 50, maxAgeMs: 200 })
  const out: Window<number>[] = []
  let now = 0
  let multiKey = 0
  let maxOpen = 0
  for (let i = 0; i < 5000; i++) {
    now += rand(20)
    const ids = Array.from({ length: 1 + (rand(10) === 0 ? 2 : 0) }, () => `blk_${rand(40)}`)
    if (new Set(ids).size > 1) multiKey++
    out.push(...sw.add(i, `line ${ids.join(' ')}`, {}, now).closed)
    maxOpen = Math.max(maxOpen, sw.openCount)
    if (rand(50) === 0) out.push(...sw.tick(now))
  }
  out.push(...sw.flushAll(now))
  t.ok(multiKey > 100, 'the run has multi-key lines')
  t.equal(maxOpen, 5, 'open sessions reach the cap and never pass it')
  t.same(ownedIds(out), Array.from({ length: 5000 }, (_, i) => i))
  const s = sw.stats()
  t.ok(s.closed.evicted > 0 && s.closed.max_length > 0 && s.closed.idle > 0 && s.closed.max_age > 0, 'every limit bit')
  t.equal(s.lines, 5000)
  t.equal(s.open, 0)
})

t.test('a line naming two blocks is in both sessions and owned by the first to close', async t => {
  const sw = new SessionWindows<string>({ keyPattern: BLK, idleMs: 1000 })
  sw.add('recv1', 'Receiving block blk_1 src: /10.0.0.1', {}, 0)
  sw.add('ask', 'BLOCK* ask 10.250.14.224:50010 to delete  blk_1 blk_-2', {}, 100)
  sw.add('del2', 'Deleting block blk_-2 file /mnt/blk_-2', {}, 600)
  const first = sw.tick(1100)
  t.same(first.map(w => [w.key, w.items, w.owned]), [['blk_1', ['recv1', 'ask'], [true, true]]])
  const second = sw.tick(1600)
  t.same(second.map(w => [w.key, w.items, w.owned]), [['blk_-2', ['ask', 'del2'], [false, true]]],
    'the same id twice in one line adds the line once')
})

t.test('keys from a record field: string, number, array; regex is the fallback', async t => {
  const sw = new SessionWindows<number>({ keyField: 'req', keyPattern: /trace=(\w+)/ })
  sw.add(1, 'GET /a', { req: 'r1' }, 0)
  sw.add(2, 'GET /b', { req: 7 }, 1)
  sw.add(3, 'fan-out', { req: ['r1', 7] }, 2)
  sw.add(4, 'no field trace=abc', {}, 3)
  sw.add(5, 'field wins trace=abc', { req: 'r1' }, 4)
  const res = sw.add(6, 'nothing usable', { req: { nested: true } }, 5)
  t.equal(res.unkeyed, true, 'an object value is not a key')
  const byKey = Object.fromEntries(sw.flushAll(10).map(w => [w.key, w.items]))
  t.same(byKey, { r1: [1, 3, 5], 7: [2, 3], abc: [4] }, 'capture group 1 is the key')
})

t.test("unkeyed lines: 'single' emits a one-line window, 'pass' reports them", async t => {
  const single = new SessionWindows<number>({ keyPattern: BLK })
  const r = single.add(1, 'Served block to /10.0.0.1', {}, 0)
  t.equal(r.unkeyed, true)
  t.match(r.closed, [{ key: '', items: [1], owned: [true], reason: 'unkeyed' }])
  t.equal(single.openCount, 0)
  t.equal(single.stats().closed.unkeyed, 1)

  const pass = new SessionWindows<number>({ keyPattern: BLK, unkeyed: 'pass' })
  t.same(pass.add(1, 'Served block to /10.0.0.1', {}, 0), { closed: [], unkeyed: true })
  t.same(pass.add(2, 'blk_1', {}, 0), { closed: [], unkeyed: false })
  t.equal(pass.stats().lines, 2)
})

t.test('nextDeadline drives a single timer until everything is out', async t => {
  const sw = new SessionWindows<number>({ keyPattern: BLK, idleMs: 100, maxAgeMs: 250 })
  t.equal(sw.nextDeadline(), undefined, 'nothing open')
  sw.add(1, 'blk_1', {}, 0)
  sw.add(2, 'blk_2', {}, 30)
  sw.add(3, 'blk_1', {}, 80)
  t.equal(sw.nextDeadline(), 130, 'blk_2 goes idle first')
  const fired: [number, string][] = []
  for (let at = sw.nextDeadline(); at !== undefined; at = sw.nextDeadline()) {
    for (const w of sw.tick(at)) fired.push([at, w.key])
  }
  t.same(fired, [[130, 'blk_2'], [180, 'blk_1']])
  t.equal(new SessionWindows({ keyPattern: BLK, idleMs: Infinity, maxAgeMs: Infinity }).nextDeadline(), undefined)
})

t.test('closes do not depend on how often tick runs', async t => {
  const lines: [string, number][] = [['blk_1', 0], ['blk_2', 40], ['blk_1', 90], ['blk_3', 260], ['blk_2', 300], ['blk_1', 420]]
  const run = (tickEvery: number): string[] => {
    const sw = new SessionWindows<number>({ keyPattern: BLK, idleMs: 100, maxAgeMs: 150 })
    const out: Window<number>[] = []
    let last = 0
    lines.forEach(([msg, now], i) => {
      if (tickEvery > 0) for (let at = last; at < now; at += tickEvery) out.push(...sw.tick(at))
      out.push(...sw.add(i, msg, {}, now).closed)
      last = now
    })
    out.push(...sw.tick(10_000))
    return out.map(w => `${w.id} ${w.items.join(',')} ${w.reason}`)
  }
  // blk_2 idles at 140; blk_1 reaches its age (150) before its idle time (190).
  const lazy = run(0)
  t.same(lazy, ['blk_2#1 1 idle', 'blk_1#0 0,2 max_age', 'blk_3#2 3 idle', 'blk_2#3 4 idle', 'blk_1#4 5 idle'])
  t.same(run(1), lazy)
  t.same(run(7), lazy)
})

t.test('a clock that steps back counts as the latest time seen', async t => {
  const sw = new SessionWindows<number>({ keyPattern: BLK, idleMs: 100 })
  sw.add(1, 'blk_1', {}, 1000)
  sw.add(2, 'blk_1', {}, 900)
  t.equal(sw.nextDeadline(), 1100)
  t.throws(() => sw.tick(NaN), TypeError)
})

t.test('bad options fail at construction', async t => {
  t.throws(() => new SessionWindows({}), TypeError, 'no key source')
  t.throws(() => new SessionWindows({ keyPattern: BLK, maxOpen: 0 }), RangeError)
  t.throws(() => new SessionWindows({ keyPattern: BLK, maxLength: 2.5 }), RangeError)
  t.throws(() => new SessionWindows({ keyPattern: BLK, idleMs: -1 }), RangeError)
  t.throws(() => new SessionWindows({ keyPattern: BLK, unkeyed: 'drop' as never }), RangeError)
  t.doesNotThrow(() => new SessionWindows({ keyPattern: 'blk_-?\\d+', maxOpen: Infinity, maxLength: Infinity }))
})

t.test('closeLeastRecent closes the least recently active session early (held_limit)', async t => {
  const sw = new SessionWindows<number>({ keyPattern: BLK, idleMs: Infinity, maxAgeMs: Infinity, maxLength: Infinity })
  sw.add(1, 'blk_1', {}, 0)
  sw.add(2, 'blk_2 and blk_1', {}, 10)
  sw.add(3, 'blk_2', {}, 20)
  t.equal(sw.oldestActivity(), 10, 'blk_1 last saw a line at 10')
  t.equal(sw.nextDeadline(), undefined, 'no limit: nothing would ever close it but a flush')
  t.match(sw.closeLeastRecent(30), { key: 'blk_1', items: [1, 2], owned: [true, true], reason: 'held_limit', closedAt: 30 })
  t.match(sw.closeLeastRecent(30), { key: 'blk_2', items: [2, 3], owned: [false, true] }, 'line 2 reported once, by the first to close')
  t.equal(sw.closeLeastRecent(30), undefined)
  t.same(sw.stats(), { open: 0, lines: 3, closed: { idle: 0, max_length: 0, max_age: 0, evicted: 0, full: 0, unkeyed: 0, flush: 0 }, early: 2 })
})
