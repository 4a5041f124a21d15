/**
 * The embedder distilled from the real wink vectors and the real loghub HDFS
 * templates, written to a file and loaded back as the sidecar would.
 */
import t from 'tap'
import { readFileSync, writeFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { distillEmbedder } from '../../plugin/embedding/distill.js'
import { cosine, loadEmbedder, embedderFromBytes } from '../../plugin/embedding/embedder.js'
import { decodeEmbedderFile, encodeEmbedderFile } from '../../plugin/embedding/file-format.js'
import { toHalf, fromHalf } from '../../plugin/embedding/fp16.js'

const DATA = (process.env.FLUENT_ANOMALY_DATASETS ?? new URL('../../../shared/datasets', import.meta.url).pathname) + '/'
const TEMPLATES_CSV = join(DATA, 'hdfs_deeplog_sessions/HDFS_templates_loghub.csv')

// "E5,<*>Receiving block<*>src:<*>dest:<*>" -> id -> text
const hdfs = new Map<string, string>()
for (const row of readFileSync(TEMPLATES_CSV, 'utf8').trim().split('\n').slice(1)) {
  const c = row.indexOf(',')
  hdfs.set(row.slice(0, c), row.slice(c + 1).replace(/^"|"$/g, ''))
}
const E = (id: string): string => hdfs.get(id) as string

const dir = t.testdir({})
const file = join(dir, 'embedder.safetensors')
const distilled = await distillEmbedder({ templates: [...hdfs.values()], createdFrom: 'test: loghub HDFS templates' })
writeFileSync(file, distilled.bytes)

t.test('the distilled file is compact and loads without the pretrained package', async t => {
  const size = statSync(file).size
  t.ok(size < 10e6, `file is ${(size / 1e6).toFixed(1)} MB`)
  const e = await loadEmbedder(file)
  t.equal(e.dim, 100)
  t.ok(e.vocab.length >= 20000, `${e.vocab.length} words`)
  t.ok(e.vocab.includes('xceiver') || e.vocab.includes('receiving'), 'training words are in the vocabulary')
  t.equal(e.meta.idfDocs, hdfs.size, 'IDF over distinct templates')
  // a word in every template weighs least; one in a single template more
  t.ok(e.idfOf('block') < e.idfOf('verification'), 'frequent word weighs less than a rare one')
  t.equal(e.idfOf('zzzunseen'), e.meta.idfDefault)
})

t.test('same text gives the identical vector across two loads of the file', async t => {
  const a = await loadEmbedder(file)
  const b = await loadEmbedder(file)
  for (const text of [...hdfs.values(), 'Some brand new templateNeverSeen <*> qwzx_frobnicator']) {
    const va = a.embed(text)
    const vb = b.embed(text)
    t.same(Buffer.from(va.buffer), Buffer.from(vb.buffer), text)
  }
  t.same(Buffer.from(a.embed(E('E5')).buffer), Buffer.from(distilled.embedder.embed(E('E5')).buffer), 'distiller and loader agree')
})

t.test('template vectors are unit length', async t => {
  const e = await loadEmbedder(file)
  for (const text of hdfs.values()) {
    const v = e.embed(text)
    const n = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
    t.ok(Math.abs(n - 1) < 1e-5, `|v| = ${n} for ${text}`)
  }
})

t.test('unknown words get a non-zero, deterministic fallback vector', async t => {
  const a = await loadEmbedder(file)
  const b = await loadEmbedder(file)
  for (const w of ['qzxvbrtk', 'fsnamesystemz', 'kqwpagefault']) {
    t.notOk(a.vocab.includes(w))
    const va = a.wordVector(w)
    const n = Math.sqrt(va.reduce((s, x) => s + x * x, 0))
    t.ok(Math.abs(n - 1) < 1e-5, `${w}: unit length (${a.wordSource(w)})`)
    t.same(Buffer.from(va.buffer), Buffer.from(b.wordVector(w).buffer), `${w}: same after reload`)
  }
  t.ok(cosine(a.wordVector('qzxvbrtk'), a.wordVector('kqwpagefault')) < 0.9, 'different unknown words differ')
  t.equal(a.wordSource('qzxvbrtk'), 'ngrams')
  // glued words split into vocabulary words
  t.same(a.segment('pagefault'), ['page', 'fault'])
  t.equal(a.wordSource('pagefaultz'), 'ngrams')
  t.ok(cosine(a.wordVector('pagefaults'), a.wordVector('fault')) > cosine(a.wordVector('pagefaults'), a.wordVector('banana')),
    'a glued word is nearer its parts than an unrelated word')
  // a template made only of unknown words / only wildcards still has a direction
  const v = a.embed('qzxvbrtk plmokn')
  t.ok(v.some(x => x !== 0))
  const w = a.embed('<*> <*>')
  t.ok(w.some(x => x !== 0), 'all-wildcard template is non-zero')
  t.ok(cosine(w, a.embed('<*> <*> <*>')) < 0.9999, 'and differs with its shape')
})

t.test('similar HDFS templates are closer than unrelated ones', async t => {
  const e = await loadEmbedder(file)
  const sim = (x: string, y: string): number => cosine(e.embed(E(x)), e.embed(E(y)))
  // [similar pair, unrelated template]
  const cases: [string, string, string, string][] = [
    ['E5', 'E6', 'E29', 'receiving vs received a block; vs replication monitor timeout'],
    ['E17', 'E18', 'E2', 'failed to transfer vs starting to transfer; vs verification succeeded'],
    ['E25', 'E30', 'E13', 'ask to replicate vs ask to delete; vs empty packet'],
    ['E3', 'E4', 'E22', 'served block vs exception while serving; vs allocateBlock'],
    ['E8', 'E11', 'E21', 'PacketResponder interrupted vs terminating; vs deleting block file'],
  ]
  for (const [a, b, c, why] of cases) {
    const near = sim(a, b)
    const far = sim(a, c)
    t.ok(near > far + 0.05, `${why}: ${near.toFixed(2)} > ${far.toFixed(2)}`)
  }
})

t.test('a file with another tokenizer version, or not an embedder at all, is refused', async t => {
  const tables = decodeEmbedderFile(readFileSync(file))
  const other = encodeEmbedderFile({ ...tables, meta: { ...tables.meta, tokenizer: 'v0' } })
  t.throws(() => embedderFromBytes(other), /tokenizer v0/)
  t.throws(() => embedderFromBytes(new Uint8Array(4)), /too short/)
  const bogus = Buffer.alloc(64)
  bogus.writeBigUInt64LE(8n, 0)
  bogus.write('{"a":1} ', 8)
  t.throws(() => embedderFromBytes(bogus), /not a fluent-anomaly-embedder file/)
  t.throws(() => embedderFromBytes(readFileSync(file).subarray(0, 100000)), /past end of file/)
})

t.test('fp16 encoding matches IEEE half precision', async t => {
  const cases: [number, number][] = [[1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff], [65520, 0x7c00],
    [2 ** -24, 0x0001], [0.1, 0x2e66], [0, 0], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02]]
  for (const [x, h] of cases) t.equal(toHalf(x), h, `${x}`)
  t.equal(fromHalf(0x3555), 0.333251953125)
  t.ok(Number.isNaN(fromHalf(toHalf(NaN))))
})
