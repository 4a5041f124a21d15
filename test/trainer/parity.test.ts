/**
 * The exported bundle scores in ONNX Runtime (onnxruntime-node, what the
 * sidecar's workers run) what PyTorch scored at export time: parity.json holds
 * a held batch per source and PyTorch's outputs; every score must agree
 * within 1e-4. One ONNX session serves both sources (hdfs from pretrain, bgl
 * from adapt) by swapping only the per-source feeds.
 */
import t from 'tap'
import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { loadBundle, type Adapter } from '../../models/bundle.js'
import { FAST, prepareSmall, pretrainTiny, trainer } from './helpers.js'

interface B64 { dtype: 'float32' | 'int32', shape: number[], base64: string }
interface ParityEntry { inputs: Record<'embeddings' | 'mask' | 'param_buckets', B64>, expected: { score: number[], contribution: number[][] } }

function tensor (a: B64): ort.Tensor {
  const buf = Buffer.from(a.base64, 'base64')
  const copy = new Uint8Array(buf).buffer // aligned
  return a.dtype === 'float32' ? new ort.Tensor('float32', new Float32Array(copy), a.shape) : new ort.Tensor('int32', new Int32Array(copy), a.shape)
}

function feeds (entry: ParityEntry, adapter: Adapter): Record<string, ort.Tensor> {
  const out: Record<string, ort.Tensor> = {}
  for (const [k, v] of Object.entries(entry.inputs)) out[k] = tensor(v)
  for (const a of adapter.tensors) out[a.name] = new ort.Tensor('float32', a.data, a.shape)
  return out
}

t.test('ONNX Runtime reproduces PyTorch on every source of the bundle', async t => {
  const p = await prepareSmall()
  t.teardown(() => rm(p.root, { recursive: true, force: true }))
  const dir = join(p.root, 'bundle')
  const pre = await pretrainTiny(p, dir)
  t.equal(pre.code, 0, 'pretrain exits 0', { stderr: pre.stderr })
  const ad = await trainer(['adapt', '--bundle', dir, '--data', p.bgl, '--source', 'bgl', ...FAST])
  t.equal(ad.code, 0, 'adapt exits 0', { stderr: ad.stderr })

  const bundleNoSession = await loadBundle(dir)
  const session = await ort.InferenceSession.create(bundleNoSession.encoderPath)
  t.teardown(() => session.release())
  const bundle = await loadBundle(dir, { session }) // also checks the session's inputs against the manifest
  t.same([...bundle.adapters.keys()].sort(), ['bgl', 'hdfs'])
  t.same(session.outputNames, ['score', 'contribution'])

  const parity = JSON.parse(await readFile(join(dir, 'parity.json'), 'utf8')) as { sources: Record<string, ParityEntry> }
  t.same(Object.keys(parity.sources).sort(), ['bgl', 'hdfs'])
  for (const [source, entry] of Object.entries(parity.sources)) {
    const out = await session.run(feeds(entry, bundle.adapters.get(source)!))
    const score = out.score.data as Float32Array
    const contrib = out.contribution.data as Float32Array
    const [B, T] = entry.inputs.mask.shape
    t.same(out.score.dims, [B], `${source}: one score per window`)
    t.same(out.contribution.dims, [B, T], `${source}: one contribution per line`)
    const scoreDiff = Math.max(...entry.expected.score.map((s, i) => Math.abs(s - score[i])))
    t.ok(scoreDiff < 1e-4, `${source}: ${B} scores within 1e-4 of PyTorch (max diff ${scoreDiff.toExponential(2)})`)
    const contribDiff = Math.max(...entry.expected.contribution.flatMap((row, b) => row.map((c, j) => Math.abs(c - contrib[b * T + j]))))
    t.ok(contribDiff < 1e-4, `${source}: contributions within 1e-4 (max diff ${contribDiff.toExponential(2)})`)
    const mask = tensor(entry.inputs.mask).data as Float32Array
    t.ok(mask.every((m, i) => m === 1 || contrib[i] === 0), `${source}: padding positions contribute 0`)
  }

  // the same session scores a batch padded further: padding must not change a window's score
  const entry = parity.sources.hdfs
  const base = feeds(entry, bundle.adapters.get('hdfs')!)
  const [B, T] = entry.inputs.mask.shape
  const D = entry.inputs.embeddings.shape[2]
  const P = entry.inputs.param_buckets.shape[2]
  const pad = 7
  const grow = (src: Float32Array | Int32Array, inner: number, fill: number): Float32Array | Int32Array => {
    const out = new (src.constructor as Float32ArrayConstructor | Int32ArrayConstructor)(B * (T + pad) * inner).fill(fill)
    for (let b = 0; b < B; b++) out.set(src.subarray(b * T * inner, (b + 1) * T * inner), b * (T + pad) * inner)
    return out
  }
  const padded = {
    ...base,
    embeddings: new ort.Tensor('float32', grow(base.embeddings.data as Float32Array, D, 0) as Float32Array, [B, T + pad, D]),
    mask: new ort.Tensor('float32', grow(base.mask.data as Float32Array, 1, 0) as Float32Array, [B, T + pad]),
    param_buckets: new ort.Tensor('int32', grow(base.param_buckets.data as Int32Array, P, -1) as Int32Array, [B, T + pad, P]),
  }
  const out = await session.run(padded)
  const diff = Math.max(...entry.expected.score.map((s, i) => Math.abs(s - (out.score.data as Float32Array)[i])))
  t.ok(diff < 1e-4, `${pad} extra padding positions leave the scores unchanged (max diff ${diff.toExponential(2)})`)
})
