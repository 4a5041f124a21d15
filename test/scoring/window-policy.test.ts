/**
 * Which windows a source serves (plugin/scoring/window-policy.ts): the config
 * where it sets a key, else the policy the bundle records, else the built-in
 * defaults; and every key served differently from the trained one reported.
 */
import t from 'tap'
import { parseConfig } from '../../config/load.js'
import { WINDOW_DEFAULTS } from '../../config/schema.js'
import { ManifestSchema } from '../../models/manifest.js'
import { mismatchMessage, resolveWindow, unlimitedMessage, type TrainedWindow } from '../../plugin/scoring/window-policy.js'

const source = (window: Record<string, unknown> = {}) => parseConfig({ sources: [{ name: 'hdfs', match: '*.hdfs', format: 'hdfs', window }] }).sources[0]

// as `prepare` writes meta.window and the trainer copies it (HDFS: sessions by block id, idle 12 h, no max age)
const HDFS_POLICY = {
  format: 'hdfs', mode: 'session', T: 50, session_key: 'blk_-?\\d+', key_field: null, key_from: 'pattern', clock: 'event',
  idle_timeout_ms: 43_200_000, max_age_ms: null, max_length: 256, truncation: 'first T lines', closed_at: 'a session closes after 12 h without a line ...',
} as unknown as TrainedWindow
const BGL_POLICY = {
  format: 'bgl', mode: 'sliding', T: 20, size: 20, step: 10, group_by: null, clock: 'event', idle_timeout_ms: 60_000, max_age_ms: 300_000, truncation: 'first T lines', closed_at: '...',
} as unknown as TrainedWindow
// a bundle from before the policy was recorded (models/default today)
const OLD_HDFS = { format: 'hdfs', mode: 'session', T: 44, session_key: 'blk_-?\\d+', closed_at: 'end of file (no idle / age limit offline)' } as unknown as TrainedWindow

t.test('the config silent: the trained policy is served, null as no limit', async t => {
  const r = resolveWindow(source(), HDFS_POLICY, 512)
  t.match(r, { known: true, mismatches: [], time: 'event', maxLen: 50, unlimited: ['max_age'] })
  t.match(r.window, { mode: 'session', idleMs: 43_200_000, maxAgeMs: Infinity, maxLength: 256, maxOpen: 10_000, keyField: undefined })
  t.equal(String(r.window.mode === 'session' && r.window.keyPattern), '/blk_-?\\d+/')
  t.same(r.origin, { mode: 'trained', idle_timeout: 'trained', max_age: 'trained', key_pattern: 'trained', key_field: 'trained', max_length: 'trained' })
  t.match(unlimitedMessage('hdfs', r), /^source "hdfs": no max_age \(as trained\); its windows close only after 12 h idle, at max_length \(256 lines\), when max_open \(10000\) or limits.max_held_records evicts them, or at a flush/)
  const s = resolveWindow(source(), BGL_POLICY, 512)
  t.match(s.window, { mode: 'sliding', size: 20, step: 10, groupBy: undefined, idleMs: 60_000, maxAgeMs: 300_000 })
  t.same(s.mismatches, [])
})

t.test('a config value that differs is served, and reported key by key', async t => {
  const r = resolveWindow(source({ idle_timeout: '30s', max_age: '50s', max_length: 256, key_pattern: 'blk_\\d+' }), HDFS_POLICY, 512)
  t.match(r.window, { idleMs: 30_000, maxAgeMs: 50_000, maxLength: 256 })
  t.same(r.mismatches, [
    { key: 'idle_timeout', trained: 43_200_000, configured: 30_000 },
    { key: 'max_age', trained: null, configured: 50_000 },
    { key: 'key_pattern', trained: 'blk_-?\\d+', configured: 'blk_\\d+' },
  ], 'max_length equals the trained one: not a mismatch')
  t.equal(mismatchMessage('hdfs', 'hdfs', r.mismatches),
    'source "hdfs": the model was not trained on these windows (adapter "hdfs"): idle_timeout trained 12 h, configured 30 s; max_age trained none, configured 50 s; ' +
    'key_pattern trained "blk_-?\\\\d+", configured "blk_\\\\d+". Remove these keys from sources[].window to serve the trained policy, or retrain under the configured one')
  t.same(resolveWindow(source({ idle_timeout: 'none', max_age: null }), { ...HDFS_POLICY, idle_timeout_ms: null } as TrainedWindow, 512).mismatches, [],
    'none / null in the config is "no limit", as null in the manifest')
  const s = resolveWindow(source({ size: 40 }), BGL_POLICY, 512)
  t.match(s.window, { size: 40, step: 40 }, 'a configured size brings its own step (= size)')
  t.same(s.mismatches.map(m => m.key), ['size', 'step'])
  t.same(resolveWindow(source({ mode: 'sliding' }), HDFS_POLICY, 512).mismatches, [{ key: 'mode', trained: 'session', configured: 'sliding' }])
})

t.test('an old bundle (no policy recorded): the built-in defaults where the config is silent, the encoder max_len', async t => {
  const r = resolveWindow(source(), OLD_HDFS, 512)
  t.match(r, { known: false, mismatches: [], maxLen: 512, unlimited: [] })
  t.match(r.window, { mode: 'session', idleMs: WINDOW_DEFAULTS.idle_timeout, maxAgeMs: WINDOW_DEFAULTS.max_age, maxLength: WINDOW_DEFAULTS.max_length })
  t.same(r.origin, { mode: 'trained', idle_timeout: 'default', max_age: 'default', key_pattern: 'trained', key_field: 'default', max_length: 'default' })
  t.same(resolveWindow(source({ idle_timeout: '5m' }), OLD_HDFS, 512).mismatches, [], 'limits the bundle does not record are not compared')
  t.same(resolveWindow(source({ key_pattern: 'x' }), OLD_HDFS, 512).mismatches.map(m => m.key), ['key_pattern'], 'what it does record is')
})

t.test('settings that cannot work fail at start with WINDOW_INVALID, saying where each value came from', async t => {
  const file = { ...HDFS_POLICY, session_key: null, key_from: 'file' } as TrainedWindow
  t.throws(() => resolveWindow(source(), file, 512), { code: 'WINDOW_INVALID', message: /one session per file: set window.key_field/ })
  t.match(resolveWindow(source({ key_field: 'path' }), file, 512).window, { keyField: 'path' })
  t.throws(() => resolveWindow(source({ step: 30 }), BGL_POLICY, 512), { code: 'WINDOW_INVALID', message: /window.step 30 \(from the config\) is larger than window.size 20 \(from the bundle\)/ })
})

t.test('the manifest schema takes both forms of window entry and refuses a bad policy', async t => {
  const { default: manifest } = await import('../../models/default/manifest.json', { with: { type: 'json' } })
  const ok = ManifestSchema.safeParse(manifest)
  t.ok(ok.success, 'models/default (no policy recorded) still loads')
  const bad = structuredClone(manifest) as Record<string, any>
  bad.sources.hdfs.window = { ...HDFS_POLICY, idle_timeout_ms: -1, session_key: '(' }
  const r = ManifestSchema.safeParse(bad)
  t.notOk(r.success)
  t.same(r.error?.issues.map(i => i.path.join('.')).sort(), ['sources.hdfs.window.idle_timeout_ms', 'sources.hdfs.window.session_key'])
  const good = structuredClone(manifest) as Record<string, any>
  good.sources.hdfs.window = HDFS_POLICY
  good.sources.bgl.window = BGL_POLICY
  t.ok(ManifestSchema.safeParse(good).success, 'a recorded policy validates')
})

t.test('config: window limits take none / null for no limit, and are left unset (not defaulted) when absent', async t => {
  t.same(source().window, { max_open: 10_000, time: 'event' })
  t.same(source({ idle_timeout: '12h', max_age: 'none', max_length: null, time: 'arrival' }).window, { idle_timeout: 43_200_000, max_age: null, max_length: null, max_open: 10_000, time: 'arrival' })
  t.throws(() => source({ idle_timeout: 0 }), { code: 'CONFIG_INVALID', issues: [{ path: 'sources.0.window.idle_timeout', message: /not a duration > 0/ }] })
  t.throws(() => source({ time: 'wall' }), { code: 'CONFIG_INVALID', issues: [{ path: 'sources.0.window.time' }] })
})
