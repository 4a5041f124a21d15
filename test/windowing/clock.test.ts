/**
 * The windowing rules driven by tap's `t.clock` (a fake clock the test moves
 * by hand): the caller passes `t.clock.now()`, as the sidecar passes its
 * clock, and nothing closes until the clock says so.
 */
import t from 'tap'
import { SessionWindows, SlidingWindows } from '../../plugin/windowing/index.js'

t.test('session: idle and max-age closes follow the clock', async t => {
  t.clock.enter()
  const w = new SessionWindows<number>({ keyPattern: 'blk_-?\\d+', idleMs: 30_000, maxAgeMs: 120_000 })
  w.add(1, 'Receiving block blk_1', {}, t.clock.now())
  t.clock.advance(29_999)
  t.same(w.tick(t.clock.now()), [], 'not idle yet at 29.999 s')
  t.equal(w.nextDeadline(), t.clock.now() + 1, 'the next deadline is 1 ms away')
  t.clock.advance(1)
  const closed = w.tick(t.clock.now())
  t.equal(closed.length, 1)
  t.equal(closed[0].reason, 'idle')
  // max age: a session that stays busy still closes at 120 s
  const aged = []
  for (let i = 0; i < 13; i++) { aged.push(...w.add(i, 'PacketResponder for blk_2', {}, t.clock.now()).closed); t.clock.advance(10_000) }
  t.equal(aged.length, 1)
  t.equal(aged[0].reason, 'max_age')
  t.equal(aged[0].items.length, 12, 'the lines that arrived in its first 120 s; the 13th opens a new session')
  t.equal(w.openCount, 1)
  t.clock.exit()
})

t.test('sliding: a partial window is flushed after idle, so no record waits forever', async t => {
  t.clock.enter()
  const w = new SlidingWindows<number>({ size: 20, idleMs: 10_000 })
  for (let i = 0; i < 25; i++) w.add(i, 'bgl', t.clock.now())
  t.clock.advance(10_000)
  const flushed = w.tick(t.clock.now())
  t.equal(flushed.length, 1)
  t.same(flushed[0].items, [20, 21, 22, 23, 24], 'the 5 lines after the full window')
  t.equal(flushed[0].reason, 'idle')
  t.clock.exit()
})
