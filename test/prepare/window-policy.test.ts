/**
 * The window policy (issue 16, one train/serve contract): prepare cuts windows
 * with the sidecar's limits in event time, and records the policy in
 * meta.json `window` for the bundle and the sidecar.
 *
 * Data: the first 20,000 lines of hdfs_loglead_2pct/HDFS_2pct.log (as
 * test/trainer/helpers.ts slices it; 1,324 blocks over ~3.6 hours) and
 * loghub BGL_2k (2,000 lines sampled far apart in time).
 */
import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DATASETS } from '../../bench/lib/datasets.js'
import { parsePrepareArgs } from '../../plugin/cli/prepare.js'
import { prepare, type PrepareOptions } from '../../plugin/prepare/prepare.js'
import { createProgress } from '../../plugin/prepare/progress.js'
import { describePolicy, parseDurationOption, sidecarDefaults } from '../../plugin/prepare/window-policy.js'

const HDFS_LABELS = join(DATASETS, 'hdfs_loglead_2pct/anomaly_label.csv')
const BGL_LOG = join(DATASETS, 'loghub_2k/BGL/BGL_2k.log')
const EMBEDDER = new URL('../../models/default/embedder.safetensors', import.meta.url).pathname
const dir = t.testdir({})

const hdfsLines = readFileSync(join(DATASETS, 'hdfs_loglead_2pct/HDFS_2pct.log'), 'utf8').split('\n').slice(0, 20000)
const HDFS_20K = join(dir, 'hdfs-20k.log')
writeFileSync(HDFS_20K, hdfsLines.join('\n') + '\n')

interface Info { key: string, file: string, first_line: number, last_line: number, size: number }

async function run (name: string, o: Partial<PrepareOptions>): Promise<{ meta: any, info: Info[], log: string }> {
  const out = join(dir, name)
  const log: string[] = []
  await prepare({ format: 'hdfs', logs: HDFS_20K, labels: HDFS_LABELS, out, embedder: EMBEDDER, progress: createProgress({ write: s => log.push(s) }), ...o })
  return {
    meta: JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')),
    info: readFileSync(join(out, 'window_info.jsonl'), 'utf8').trim().split('\n').map(l => JSON.parse(l)),
    log: log.join(''),
  }
}

/** "081109 203530 ..." -> ms (UTC), read here without the code under test. */
const msOf = (line: string): number => {
  const [d, h] = line.split(' ')
  return Date.UTC(2000 + +d.slice(0, 2), +d.slice(2, 4) - 1, +d.slice(4, 6), +h.slice(0, 2), +h.slice(2, 4), +h.slice(4, 6))
}

/**
 * Expected windows per block, computed here from the raw lines: a block's
 * session closes when the clock (the latest line time seen, as the windowers'
 * clock never goes back) reaches its last line + idle or its first line + max
 * age, or when it holds maxLength lines. Returns key -> [first_line, last_line, size][].
 */
function expectedSessions (idle: number, maxAge: number, maxLength: number): Map<string, [number, number, number][]> {
  const open = new Map<string, { first: number, last: number, opened: number, seen: number, size: number }>()
  const out = new Map<string, [number, number, number][]>()
  const emit = (k: string, s: { first: number, last: number, size: number }): void => { out.set(k, [...(out.get(k) ?? []), [s.first, s.last, s.size]]) }
  let now = -Infinity
  hdfsLines.forEach((line, i) => {
    if (line === '') return
    now = Math.max(now, msOf(line))
    for (const k of new Set(line.match(/blk_-?\d+/g) ?? [])) {
      let s = open.get(k)
      if (s !== undefined && (now >= s.seen + idle || now >= s.opened + maxAge)) { emit(k, s); s = undefined }
      if (s === undefined) { s = { first: i + 1, last: i + 1, opened: now, seen: now, size: 0 }; open.set(k, s) }
      s.last = i + 1
      s.seen = now
      s.size++
      if (s.size >= maxLength) { emit(k, s); open.delete(k) }
      else open.set(k, s)
    }
  })
  for (const [k, s] of open) emit(k, s)
  return out
}

const byKey = (info: Info[]): Map<string, [number, number, number][]> => {
  const m = new Map<string, [number, number, number][]>()
  for (const w of info) m.set(w.key, [...(m.get(w.key) ?? []), [w.first_line, w.last_line, w.size]])
  for (const v of m.values()) v.sort((a, b) => a[0] - b[0])
  return m
}

t.test('defaults are the sidecar\'s: idle 30 s, max age 10 min, max length 256', async t => {
  t.same(sidecarDefaults().policy, { idleMs: 30_000, maxAgeMs: 600_000, maxLength: 256 })
  t.equal(parseDurationOption('idle-timeout', '500ms'), 500)
  t.equal(parseDurationOption('idle-timeout', '12h'), 43_200_000)
  t.equal(parseDurationOption('max-age', 'none'), null)
  t.throws(() => parseDurationOption('idle-timeout', '0s'), { code: 'PREPARE_USAGE', message: /--idle-timeout must be a duration > 0/ })
  t.throws(() => parseDurationOption('idle-timeout', '30'), { code: 'PREPARE_USAGE' }, 'a unit is required, as in the config')
  const a = parsePrepareArgs(['--format', 'hdfs', '--logs', 'x', '--out', 'y', '--idle-timeout', '5m', '--max-age', 'none', '--max-length', '64'])
  t.match(a, { idleTimeout: 300_000, maxAge: null, maxLength: 64 })
  t.throws(() => parsePrepareArgs(['--format', 'hdfs', '--logs', 'x', '--out', 'y', '--max-length', '0']), { code: 'PREPARE_USAGE' })
})

t.test('HDFS 20k, default policy: sessions cut at 30 s of silence in log time', async t => {
  const { meta, info, log } = await run('default', {})
  t.same(meta.window, {
    session_key: 'blk_-?\\d+',
    key_field: null,
    key_from: 'pattern',
    clock: 'event',
    idle_timeout_ms: 30_000,
    max_age_ms: 600_000,
    max_length: 256,
    truncation: 'first T lines',
    closed_at: 'a session closes after 30 s without a line (idle_timeout), 10 min after its first line (max_age) or at 256 lines (max_length), ' +
      'whichever comes first, in event time (the lines\' own timestamps); sessions still open close at the end of the input',
  }, 'meta.json records the contract')
  t.equal(meta.mode, 'session')
  t.equal(meta.T, meta.counts.longest_window)

  const expected = expectedSessions(30_000, 600_000, 256)
  const got = byKey(info)
  t.equal(meta.counts.keys, 1324, '1,324 blocks in the first 20,000 lines')
  t.equal(got.size, expected.size)
  const split = [...got.values()].filter(w => w.length > 1).length
  t.ok(split > 500, `${split} blocks are in more than one window`)
  t.equal(meta.counts.keys_split, split)
  t.same(Object.fromEntries(got), Object.fromEntries(expected), 'every window\'s key, line span and size match the rule applied to the raw line times')
  t.equal(meta.counts.windows, info.length)
  t.equal(meta.counts.closed.idle + meta.counts.closed.max_age + meta.counts.closed.max_length + meta.counts.closed.flush, info.length, 'closed counts add up')
  t.ok(meta.counts.closed.idle > 0)

  // One block by hand: the first one with two windows.
  const [key, wins] = [...got].find(([, w]) => w.length > 1)!
  const times = hdfsLines.flatMap((l, i) => new Set(l.match(/blk_-?\d+/g)).has(key) ? [[i + 1, msOf(l)]] : []) as [number, number][]
  const at = (n: number): number => times.find(([no]) => no === n)![1]
  const gap = at(wins[1][0]) - at(wins[0][1])
  t.ok(gap >= 30_000, `${key}: ${gap / 1000} s between line ${wins[0][1]} (end of window 1) and line ${wins[1][0]} (start of window 2)`)
  const inFirst = times.filter(([no]) => no >= wins[0][0] && no <= wins[0][1])
  t.ok(inFirst.every(([, ms], j) => j === 0 || ms - inFirst[j - 1][1] < 30_000), 'inside the first window no gap reaches 30 s')
  t.equal(inFirst.length, wins[0][2])

  t.match(log, /prepare: windows: a session closes after 30 s without a line/, 'the policy in words')
  t.match(log, /prepare: \d+ windows from 1324 keys \(\d+ keys in more than one window\); closed: idle \d+/)
  t.match(log, new RegExp(`prepare: T=${meta.T}: the longest window`))
  t.match(log, /warning: \d+ of 1324 keys \([\d.]+ %\) were split into several windows by the time limits \(idle_timeout 30 s, max_age 10 min\); to keep sessions whole raise --idle-timeout \/ --max-age/,
    'warning (b): more than 10 % of keys split, and the options that keep them whole')
  t.same(meta.warnings.filter((w: string) => /split into several windows/.test(w)).length, 1, 'the warnings are in meta.json too')
})

t.test('HDFS 20k, --idle-timeout 12h --max-age none: every block is one window', async t => {
  const { meta, info, log } = await run('whole', { idleTimeout: 43_200_000, maxAge: null })
  t.match(meta.window, { idle_timeout_ms: 43_200_000, max_age_ms: null, max_length: 256, clock: 'event' })
  t.equal(meta.counts.windows, 1324)
  t.equal(meta.counts.keys_split, 0)
  t.same(meta.counts.closed, { idle: 0, max_length: 0, max_age: 0, evicted: 0, full: 0, unkeyed: 0, flush: 1324 })
  t.same(Object.fromEntries(byKey(info)), Object.fromEntries(expectedSessions(43_200_000, Infinity, 256)))
  t.notMatch(log, /split into several windows/, 'no split warning')
})

t.test('HDFS 20k, --max-length 8 and --max-len 5: length cuts and truncation', async t => {
  const { meta, info, log } = await run('short', { idleTimeout: null, maxAge: null, maxLength: 8, maxLen: 5 })
  t.equal(meta.window.max_length, 8)
  t.ok(info.every(w => w.size <= 8))
  t.same(Object.fromEntries(byKey(info)), Object.fromEntries(expectedSessions(Infinity, Infinity, 8)))
  t.ok(meta.counts.closed.max_length > 0)
  t.equal(meta.T, 5)
  const longer = info.filter(w => w.size > 5).length
  t.equal(meta.counts.truncated_windows, longer)
  t.match(log, /prepare: T=5: --max-len/)
  t.match(log, new RegExp(`warning: ${longer} windows are longer than T=5 and keep only the first 5 lines`), 'warning (a)')
  t.notMatch(log, /by the time limits/, 'length cuts are not time splits')
})

t.test('BGL 2k, default policy: a partial sliding window closes after 30 s of silence in log time', async t => {
  const out = join(dir, 'bgl')
  const log: string[] = []
  await prepare({ format: 'bgl', logs: BGL_LOG, out, embedder: EMBEDDER, progress: createProgress({ write: s => log.push(s) }) })
  const meta = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8'))
  const info: Info[] = readFileSync(join(out, 'window_info.jsonl'), 'utf8').trim().split('\n').map(l => JSON.parse(l))
  t.same(meta.window, {
    size: 20, step: 20, group_by: null, clock: 'event', idle_timeout_ms: 30_000, max_age_ms: 600_000, truncation: 'first T lines',
    closed_at: describePolicy('sliding', { idleMs: 30_000, maxAgeMs: 600_000, maxLength: null }, 'event', { size: 20, step: 20 }),
  })
  // Independently: times from the epoch column (+ microseconds), windows of up to 20 lines cut at a gap >= 30 s or age >= 10 min.
  const lines = readFileSync(BGL_LOG, 'utf8').split(/\r?\n/).filter(l => l !== '')
  const ms = lines.map(l => { const f = l.split(' '); return Number(f[1]) * 1000 + Number(f[4].slice(-6)) / 1000 })
  const want: [number, number][] = []
  let cur: number[] = []
  const arrival: number[] = []
  let now = -Infinity
  let last = -Infinity
  ms.forEach((m, i) => {
    now = Math.max(now, m)
    // a partial window's age counts from its oldest line's arrival (the clock then)
    if (cur.length > 0 && (now >= last + 30_000 || now >= arrival[cur[0]] + 600_000)) { want.push([cur[0] + 1, cur.length]); cur = [] }
    arrival[i] = now
    cur.push(i)
    last = now
    if (cur.length === 20) { want.push([cur[0] + 1, 20]); cur = [] }
  })
  if (cur.length > 0) want.push([cur[0] + 1, cur.length])
  t.same(info.map(w => [w.first_line, w.size]).sort((a, b) => a[0] - b[0]), want, 'window starts and sizes match the rule on the raw times')
  t.ok(meta.counts.closed.idle > 1000, `BGL_2k's lines are far apart: ${meta.counts.closed.idle} windows closed idle`)
  t.equal(meta.counts.keys, 0, 'sliding windows have no session keys')
  t.match(log.join(''), /prepare: T=20: the window size/)
})

t.test('--like BUNDLE:SOURCE prepares as that source was trained: embedder, buckets, window policy; the command line wins', async t => {
  // a bundle folder with only what --like reads: a manifest with one session and one sliding source (synthetic entries)
  const bundle = join(dir, 'like-bundle')
  mkdirSync(bundle, { recursive: true })
  writeFileSync(join(bundle, 'manifest.json'), JSON.stringify({
    sources: {
      hdfs: { window: { format: 'hdfs', mode: 'session', T: 44, session_key: 'blk_-?\\d+', idle_timeout_ms: 43_200_000, max_age_ms: null, max_length: 256 }, params: { buckets: 512, max_params: 8 } },
      bgl: { window: { format: 'bgl', mode: 'sliding', T: 20, size: 20, step: 10, idle_timeout_ms: null, max_age_ms: null }, params: { buckets: 512, max_params: 8 } },
      old: { window: { format: 'hdfs', mode: 'session', T: 44, session_key: 'blk_-?\\d+', closed_at: 'end of file' }, params: { buckets: 1024, max_params: 8 } },
    },
  }))
  const h = parsePrepareArgs(['--like', `${bundle}:hdfs`, '--logs', 'x', '--out', 'y'])
  t.match(h, { format: 'hdfs', embedder: join(bundle, 'embedder.safetensors'), paramBuckets: 512, maxParams: 8, idleTimeout: 43_200_000, maxAge: null, maxLength: 256 })
  const own = parsePrepareArgs(['--like', `${bundle}:hdfs`, '--logs', 'x', '--out', 'y', '--idle-timeout', '30s', '--embedder', 'e.safetensors'])
  t.match(own, { idleTimeout: 30_000, embedder: 'e.safetensors', maxAge: null }, 'what the command line gives wins')
  t.match(parsePrepareArgs(['--like', `${bundle}:bgl`, '--logs', 'x', '--out', 'y']), { format: 'bgl', windowSize: 20, step: 10, idleTimeout: null })
  t.match(parsePrepareArgs(['--like', `${bundle}:old`, '--logs', 'x', '--out', 'y']), { idleTimeout: null, maxAge: null, maxLength: null, paramBuckets: 1024 },
    'a bundle from before the policy was recorded was prepared without limits')
  t.throws(() => parsePrepareArgs(['--like', `${bundle}:nope`, '--logs', 'x', '--out', 'y']), { code: 'PREPARE_USAGE', message: /no source "nope" \(has: hdfs, bgl, old\)/ })
  t.throws(() => parsePrepareArgs(['--like', bundle, '--logs', 'x', '--out', 'y']), { code: 'PREPARE_USAGE', message: /BUNDLE:SOURCE/ })
})
