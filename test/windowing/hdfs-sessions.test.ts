// Session windows on real HDFS lines (loghub HDFS_v1, 2% block sample via LogLead;
// see /work/shared/datasets/hdfs_loglead_2pct/SOURCE.txt).
import t from 'tap'
import { closeSync, existsSync, openSync, readSync } from 'node:fs'
import { SessionWindows, type Window } from '../../plugin/windowing/index.js'

const FILE = '/work/shared/datasets/hdfs_loglead_2pct/HDFS_2pct.log'
const LINES = 5000

/** The first `n` lines, reading only the head of the 31 MB file. */
function head (file: string, n: number): string[] {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(4 << 20)
    const len = readSync(fd, buf, 0, buf.length, 0)
    const lines = buf.subarray(0, len).toString('utf8').split('\n')
    if (lines.length <= n) throw new Error(`fewer than ${n} lines in the first ${len} bytes`)
    return lines.slice(0, n)
  } finally {
    closeSync(fd)
  }
}

/** "081109 203530 147 INFO ..." → ms since the epoch (yyMMdd HHmmss). */
function timeOf (line: string): number {
  const d = line.slice(0, 6)
  const h = line.slice(7, 13)
  return Date.UTC(2000 + +d.slice(0, 2), +d.slice(2, 4) - 1, +d.slice(4, 6), +h.slice(0, 2), +h.slice(2, 4), +h.slice(4, 6))
}

/** Block ids of a line, found without the regex under test: whitespace tokens holding "blk_". */
function blocksOf (line: string): Set<string> {
  const ids = new Set<string>()
  for (const tok of line.split(/\s+/)) {
    const at = tok.indexOf('blk_')
    if (at >= 0) ids.add(tok.slice(at))
  }
  return ids
}

t.test('HDFS: one session per block id, every line accounted for', { skip: !existsSync(FILE) && 'dataset not present' }, async t => {
  const lines = head(FILE, LINES)
  const expected = new Map<string, number[]>()
  lines.forEach((line, i) => { for (const b of blocksOf(line)) expected.set(b, [...(expected.get(b) ?? []), i]) })
  t.ok(expected.size > 100, `${expected.size} distinct blocks in the first ${LINES} lines`)

  const day = 86_400_000
  const sw = new SessionWindows<number>({ keyPattern: /blk_-?\d+/, idleMs: day, maxAgeMs: day, maxLength: Infinity, maxOpen: Infinity })
  const out: Window<number>[] = []
  let unkeyed = 0
  lines.forEach((line, i) => {
    const r = sw.add(i, line, undefined, timeOf(line))
    out.push(...r.closed)
    if (r.unkeyed) unkeyed++
  })
  t.same(out, [], 'generous limits: nothing closes early')
  out.push(...sw.flushAll(timeOf(lines[LINES - 1])))

  t.equal(unkeyed, 0, 'every HDFS line names a block')
  t.equal(out.length, expected.size, 'as many sessions as distinct block ids')
  t.same(Object.fromEntries(out.map(w => [w.key, w.items])), Object.fromEntries(expected), 'each session holds exactly the lines naming its block')
  const owned = out.flatMap(w => w.items.filter((_, i) => w.owned[i])).sort((a, b) => a - b)
  t.same(owned, Array.from({ length: LINES }, (_, i) => i), 'each line owned exactly once')
})

t.test('HDFS: a tight open cap flushes early but loses no line', { skip: !existsSync(FILE) && 'dataset not present' }, async t => {
  const lines = head(FILE, LINES)
  const sw = new SessionWindows<number>({ keyPattern: /blk_-?\d+/, idleMs: 600_000, maxAgeMs: 3_600_000, maxLength: 8, maxOpen: 50 })
  const out: Window<number>[] = []
  lines.forEach((line, i) => out.push(...sw.add(i, line, undefined, timeOf(line)).closed))
  out.push(...sw.flushAll(timeOf(lines[LINES - 1])))
  const { closed } = sw.stats()
  t.ok(closed.evicted > 0 && closed.max_length > 0, `limits bit: ${JSON.stringify(closed)}`)
  const owned = out.flatMap(w => w.items.filter((_, i) => w.owned[i])).sort((a, b) => a - b)
  t.same(owned, Array.from({ length: LINES }, (_, i) => i))
  t.ok(out.every(w => w.items.every(i => lines[i].includes(w.key))), 'no session holds a line of another block')
})
