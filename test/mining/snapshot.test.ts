import t from 'tap'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Drain } from '../../plugin/mining/drain.js'
import { SNAPSHOT_VERSION } from '../../plugin/mining/drain-snapshot.js'
import { loadSnapshot, saveSnapshot } from '../../plugin/mining/snapshot.js'

// Real OpenSSH messages (Loghub OpenSSH_2k.log, Content column), learnt before the snapshot ...
const BEFORE = [
  'Invalid user webmaster from 173.234.31.186',
  'input_userauth_request: invalid user webmaster [preauth]',
  'Failed password for invalid user webmaster from 173.234.31.186 port 38926 ssh2',
  'Received disconnect from 173.234.31.186: 11: Bye Bye [preauth]',
  'Invalid user test9 from 52.80.34.196',
  'pam_unix(sshd:auth): check pass; user unknown',
  'Failed password for root from 112.95.230.3 port 45378 ssh2',
]
// ... and after it: the restored parser must answer exactly as the original would have.
const AFTER = [
  'Connection closed by 212.47.254.145 [preauth]',
  'Invalid user inspur from 175.102.13.6',
  'input_userauth_request: invalid user inspur [preauth]',
  'Failed password for invalid user inspur from 175.102.13.6 port 60584 ssh2',
  'Received disconnect from 175.102.13.6: 11: Bye Bye [preauth]',
  'Failed password for root from 183.62.140.253 port 43656 ssh2',
]
const OPTS = { depth: 5, similarity: 0.7, maxClusters: 6 }

function learnt(): Drain {
  const d = new Drain(OPTS)
  for (const l of BEFORE) d.add(l)
  return d
}

t.test('round trip through a file: same templates, ids, LRU order and future answers', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'openssh.drain.json')
  const original = learnt()
  await saveSnapshot(path, original)
  const restored = await loadSnapshot(path)
  t.ok(restored)
  t.same(restored!.templates(), original.templates())
  t.same(restored!.snapshot(), original.snapshot())
  t.same(restored!.options, original.options)
  // BEFORE fills maxClusters (6); AFTER's first line evicts the least recently used
  // cluster, which is not the oldest one: the LRU order must have survived too
  t.same(
    AFTER.map((l) => restored!.add(l)),
    AFTER.map((l) => original.add(l)),
  )
  t.same(restored!.templates(), original.templates())
})

t.test('template ids survive restore', async (t) => {
  const original = learnt()
  const restored = Drain.restore(JSON.parse(JSON.stringify(original.snapshot())))
  for (const l of BEFORE) t.equal(restored.match(l)!.templateId, original.match(l)!.templateId, l)
})

t.test('atomic write: no temp file left behind, an existing snapshot is replaced whole', async (t) => {
  const dir = t.testdir({ 'src.drain.json': 'old content' })
  const path = join(dir, 'src.drain.json')
  await saveSnapshot(path, learnt())
  t.same(readdirSync(dir), ['src.drain.json'])
  t.equal(JSON.parse(readFileSync(path, 'utf8')).version, SNAPSHOT_VERSION)
  await t.rejects(saveSnapshot(join(dir, 'missing-dir', 'x.json'), learnt()), { code: 'ENOENT' })
  t.same(readdirSync(dir), ['src.drain.json'], 'a failed save leaves nothing behind')
})

t.test('a missing snapshot is a first start: null', async (t) => {
  t.equal(await loadSnapshot(join(t.testdir(), 'none.json')), null)
})

t.test('a corrupt snapshot is refused with DRAIN_SNAPSHOT_CORRUPT and the path', async (t) => {
  const good = JSON.stringify(learnt().snapshot())
  const dir = t.testdir({ 'truncated.json': good.slice(0, good.length / 2), 'other.json': '{"hello":"world"}' })
  await t.rejects(loadSnapshot(join(dir, 'truncated.json')), {
    name: 'MiningError',
    code: 'DRAIN_SNAPSHOT_CORRUPT',
    message: /truncated\.json is not valid JSON/,
  })
  await t.rejects(loadSnapshot(join(dir, 'other.json')), { code: 'DRAIN_SNAPSHOT_CORRUPT', message: /not a Drain snapshot/ })
})

t.test('an unknown snapshot version is refused with DRAIN_SNAPSHOT_VERSION', async (t) => {
  const s = { ...learnt().snapshot(), version: 2 }
  const dir = t.testdir({ 'future.json': JSON.stringify(s) })
  await t.rejects(loadSnapshot(join(dir, 'future.json')), {
    code: 'DRAIN_SNAPSHOT_VERSION',
    message: /future\.json: Drain snapshot version 2 is not supported; this build reads version 1/,
  })
  t.throws(() => Drain.restore(s), { code: 'DRAIN_SNAPSHOT_VERSION' })
})

t.test('an edited snapshot is refused with DRAIN_SNAPSHOT_INVALID', async (t) => {
  const s = learnt().snapshot()
  const tampered = structuredClone(s)
  tampered.clusters[0]!.tokens[0] = 'Valid'
  t.throws(() => Drain.restore(tampered), { code: 'DRAIN_SNAPSHOT_INVALID', message: /does not match its template/ })
  const orphan = structuredClone(s)
  orphan.tree = orphan.tree.slice(1)
  t.throws(() => Drain.restore(orphan), { code: 'DRAIN_SNAPSHOT_INVALID', message: /not in the tree/ })
  const badOpts = structuredClone(s)
  badOpts.options.depth = 1
  t.throws(() => Drain.restore(badOpts), { code: 'DRAIN_SNAPSHOT_INVALID', message: /depth/ })
  const dir = t.testdir()
  writeFileSync(join(dir, 'x.json'), JSON.stringify(tampered))
  await t.rejects(loadSnapshot(join(dir, 'x.json')), { code: 'DRAIN_SNAPSHOT_INVALID', message: /x\.json/ })
})
