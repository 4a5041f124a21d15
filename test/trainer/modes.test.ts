/**
 * Every trainer mode end to end on the shared samples (tiny model, CPU):
 * pretrain on HDFS → adapt / finetune / scratch on BGL → evaluate, plus the
 * refusals a user meets (data from another embedder, finetune over its base).
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { prepare } from '../../plugin/prepare/prepare.js'
import { createProgress } from '../../plugin/prepare/progress.js'
import { runTrain } from '../../plugin/cli/train.js'
import { DATA, FAST, TINY, prepareSmall, pretrainTiny, trainer, NO_TIME_LIMITS } from './helpers.js'

const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex')
const json = (f: string): any => JSON.parse(readFileSync(f, 'utf8'))

const p = await prepareSmall()
t.teardown(() => rm(p.root, { recursive: true, force: true }))

t.test('pretrain, adapt, finetune, scratch, evaluate', async t => {
  const base = join(p.root, 'base')

  const pre = await pretrainTiny(p, base)
  t.equal(pre.code, 0, 'pretrain exits 0', { stderr: pre.stderr })
  for (const f of ['manifest.json', 'encoder.onnx', 'encoder.safetensors', 'embedder.safetensors', 'parity.json',
    'adapters/hdfs.safetensors', 'adapters/hdfs.json', 'parsers/hdfs.drain.json']) t.ok(existsSync(join(base, f)), `bundle has ${f}`)
  const m = json(join(base, 'manifest.json'))
  t.equal(m.encoder.sha256, sha(join(base, 'encoder.onnx')), 'manifest records the encoder hash')
  t.equal(m.embedder.sha256, sha(join(p.hdfs, 'embedder.safetensors')), 'the prepared embedder is the bundle\'s')
  t.equal(m.encoder.pretrained_on, 'hdfs')
  t.equal(m.sources.hdfs.parser.preset, 'HDFS', 'parser settings come from the prepared meta')
  const hdfsMeta = json(join(base, 'adapters/hdfs.json'))
  t.equal(hdfsMeta.threshold, m.sources.hdfs.threshold)
  t.equal(hdfsMeta.data.split.method, 'chronological', 'adapter json records the split method')
  t.equal(hdfsMeta.training.trainable_share, 1, 'pretrain trains every weight')

  // adapt into a copy: the encoder does not change, only the new source's tensors are trained
  const adapted = join(p.root, 'adapted')
  const ad = await trainer(['adapt', '--bundle', base, '--data', p.bgl, '--source', 'bgl', '--out', adapted, ...FAST])
  t.equal(ad.code, 0, 'adapt exits 0', { stderr: ad.stderr })
  t.match(ad.stdout, /adapt: trainable parameters [\d,]+ of [\d,]+ \(\d+\.\d\d%\)/, 'adapt prints the trainable share')
  t.equal(sha(join(adapted, 'encoder.onnx')), m.encoder.sha256, 'encoder.onnx untouched')
  t.equal(sha(join(adapted, 'encoder.safetensors')), sha(join(base, 'encoder.safetensors')), 'frozen weights untouched')
  const am = json(join(adapted, 'manifest.json'))
  t.same(Object.keys(am.sources).sort(), ['bgl', 'hdfs'], 'adapted bundle serves both sources')
  t.equal(json(join(adapted, 'adapters/bgl.json')).encoder_sha256, m.encoder.sha256)
  t.same(Object.keys(json(join(base, 'manifest.json')).sources), ['hdfs'], 'the base bundle is left as it was')
  t.ok(ad.json.trainable_params < ad.json.total_params)

  // finetune: all weights move, so it is a new encoder in a new bundle
  const ft = await trainer(['finetune', '--bundle', base, '--data', p.bgl, '--source', 'bgl', '--out', join(p.root, 'ft'), ...FAST])
  t.equal(ft.code, 0, 'finetune exits 0', { stderr: ft.stderr })
  const fm = json(join(p.root, 'ft', 'manifest.json'))
  t.not(fm.encoder.sha256, m.encoder.sha256, 'finetune writes a new encoder')
  t.equal(fm.encoder.lineage.from_encoder_sha256, m.encoder.sha256, 'and records which one it started from')
  t.equal(ft.json.trainable_share, 1)

  const sc = await trainer(['scratch', '--data', p.bgl, '--source', 'bgl', '--out', join(p.root, 'scratch'), ...TINY, ...FAST])
  t.equal(sc.code, 0, 'scratch exits 0', { stderr: sc.stderr })
  t.equal(json(join(p.root, 'scratch', 'manifest.json')).encoder.pretrained_on, null)

  // evaluate: test-split metrics of the model and both baselines, as JSON and as a table
  const reportFile = join(p.root, 'report.json')
  const ev = await trainer(['evaluate', '--bundle', base, '--data', p.hdfs, '--source', 'hdfs', '--report', reportFile, '--device', 'cpu'])
  t.equal(ev.code, 0, 'evaluate exits 0', { stderr: ev.stderr })
  const r = json(reportFile)
  t.same(ev.json, r, 'stdout and --report carry the same report')
  const sp = json(join(p.hdfs, 'meta.json')).split
  t.equal(r.split.test.windows, sp.test.windows, 'scored on the test split of meta.json')
  t.equal(r.split.method, 'chronological')
  for (const k of ['precision', 'recall', 'f1', 'roc_auc', 'tp', 'fp', 'fn']) t.type(r.model.test[k], 'number', `model test ${k}`)
  t.equal(r.model.threshold, hdfsMeta.threshold, 'the adapter\'s validation threshold is used')
  t.ok(r.model.test.roc_auc > 0.7, `the tiny model learnt HDFS (test ROC-AUC ${r.model.test.roc_auc.toFixed(3)})`)
  for (const b of ['logistic_regression', 'decision_tree']) {
    t.type(r.baselines[b].test.f1, 'number', `${b} test F1`)
    t.type(r.baselines[b].test.roc_auc, 'number', `${b} test ROC-AUC`)
  }
  t.match(ev.stderr, /logistic regression/)
  t.match(ev.stderr, /decision tree/)
  t.type(r.model.trainable_share, 'number')
  t.type(r.model.train_wall_s, 'number')
  t.equal(r.device, 'cpu')

  const ev2 = await trainer(['evaluate', '--bundle', adapted, '--data', p.bgl, '--source', 'bgl', '--device', 'cpu'])
  t.equal(ev2.code, 0, 'evaluate the adapted source', { stderr: ev2.stderr })
  t.equal(ev2.json.model.mode, 'adapt')
})

t.test('default architecture: adapt trains at most 5% of the parameters', async t => {
  const dir = join(p.root, 'default-arch')
  const pre = await trainer(['pretrain', '--data', p.hdfs, '--source', 'hdfs', '--out', dir, ...FAST, '--epochs', '1', '--train-size', '128'])
  t.equal(pre.code, 0, 'pretrain (d_model 512, ffn 2048, 2 layers, adapter 64) exits 0', { stderr: pre.stderr })
  const ad = await trainer(['adapt', '--bundle', dir, '--data', p.bgl, '--source', 'bgl', ...FAST, '--epochs', '1'])
  t.equal(ad.code, 0, { stderr: ad.stderr })
  const m = /trainable parameters ([\d,]+) of ([\d,]+) \((\d+\.\d+)%\)/.exec(ad.stdout)
  t.ok(m !== null, 'share printed')
  t.ok(Number(m![3]) <= 5, `adapter share ${m![3]}% <= 5%`)
  t.equal(ad.json.trainable_params, Number(m![1].replace(/,/g, '')), 'the printed count is the trained count')
})

t.test('refusals', async t => {
  const base = join(p.root, 'refusals-base')
  t.equal((await pretrainTiny(p, base, ['--epochs', '1', '--train-size', '200'])).code, 0)

  // a target prepared with its own embedder lives in another vector space
  const own = join(p.root, 'prep-bgl-own')
  await prepare({ format: 'bgl', logs: DATA + 'loghub_2k/BGL/BGL_2k.log', out: own, progress: createProgress(process.stderr, { quiet: true }), ...NO_TIME_LIMITS })
  const r = await trainer(['adapt', '--bundle', base, '--data', own, '--source', 'bgl', ...FAST])
  t.equal(r.code, 65)
  t.match(r.stderr, /prepared with embedder [0-9a-f]{64}, the bundle's is [0-9a-f]{64}/)
  t.match(r.stderr, `--embedder ${join(base, 'embedder.safetensors')}`, 'and says how to fix it')

  const f = await trainer(['finetune', '--bundle', base, '--data', p.bgl, '--source', 'bgl', '--out', base, ...FAST])
  t.equal(f.code, 65)
  t.match(f.stderr, /--out must be a new folder/)

  const bad = await trainer(['adapt', '--bundle', base, '--data', p.bgl, '--source', 'BGL logs', ...FAST])
  t.equal(bad.code, 65)
  t.match(bad.stderr, /--source 'BGL logs'/)

  const usage = await trainer(['pretrain', '--data', p.hdfs, '--source', 'x', '--out', join(p.root, 'x'), '--layers', '3'])
  t.equal(usage.code, 2, 'argparse rejects --layers 3')
  t.match(usage.stderr, /--layers: invalid choice/)

  t.equal(await runTrain(['evaluate']), 64, 'fluent-anomaly train refuses a mode that is not a training mode')
})
