/**
 * models/bundle.ts refuses what the sidecar must not serve, with a stable code
 * and a message that says what is wrong: a manifest that fails the schema, an
 * encoder file that is not the one the manifest hashed, an adapter trained
 * against another encoder, an adapter tensor of the wrong shape or not finite.
 * The bundles come from the real trainer (tiny model).
 */
import t, { type Test } from 'tap'
import { cp, readFile, rm, writeFile, appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { loadAdapter, loadBundle, parseManifest } from '../../models/bundle.js'
import { ModelError } from '../../models/errors.js'
import { decodeSafetensors } from '../../models/safetensors.js'
import { prepareSmall, pretrainTiny } from '../trainer/helpers.js'

/** safetensors bytes from {name: [shape, Float32Array]} (the layout models/trainer/safetensors.py writes). */
function encodeSafetensors (tensors: Record<string, [number[], Float32Array]>): Uint8Array {
  const header: Record<string, unknown> = {}
  let off = 0
  for (const [k, [shape, data]] of Object.entries(tensors)) {
    header[k] = { dtype: 'F32', shape, data_offsets: [off, off + data.byteLength] }
    off += data.byteLength
  }
  let text = JSON.stringify(header)
  text += ' '.repeat((8 - (text.length % 8)) % 8)
  const out = new Uint8Array(8 + text.length + off)
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true)
  out.set(Buffer.from(text), 8)
  let p = 8 + text.length
  for (const [, data] of Object.values(tensors)) { out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), p); p += data.byteLength }
  return out
}

async function editAdapter (dir: string, edit: (t: Record<string, [number[], Float32Array]>) => void): Promise<void> {
  const file = join(dir, 'adapters/hdfs.safetensors')
  const decoded = decodeSafetensors(await readFile(file))
  const tensors: Record<string, [number[], Float32Array]> = {}
  for (const [k, v] of decoded.tensors) tensors[k] = [v.shape, new Float32Array(v.bytes.buffer.slice(v.bytes.byteOffset, v.bytes.byteOffset + v.bytes.byteLength))]
  edit(tensors)
  await writeFile(file, encodeSafetensors(tensors))
}

const p = await prepareSmall('fa-bundle-')
t.teardown(() => rm(p.root, { recursive: true, force: true }))
const good = join(p.root, 'good')
const other = join(p.root, 'other')
const noLa = join(p.root, 'no-la')
for (const [dir, extra] of [[good, []], [other, ['--seed', '7']], [noLa, ['--no-log-attention']]] as const) {
  const r = await pretrainTiny(p, dir, ['--epochs', '1', '--train-size', '300', ...extra])
  if (r.code !== 0) throw new Error(`pretrain ${dir} failed:\n${r.stderr}`)
}
let n = 0
const copy = async (from = good): Promise<string> => { const d = join(p.root, `case-${n++}`); await cp(from, d, { recursive: true }); return d }

async function refuses (t: Test, dir: string, code: string, msg: RegExp, load = () => loadBundle(dir)): Promise<void> {
  const err = await load().then(() => null, (e: unknown) => e)
  t.ok(err instanceof ModelError, `refused with a ModelError (${(err as Error | null)?.message.split('\n')[0]})`)
  t.equal((err as ModelError).code, code)
  t.match((err as Error).message, msg)
}

t.test('a bundle from the trainer loads; its adapter feeds an ONNX session', async t => {
  const b = await loadBundle(good)
  const hdfs = b.adapters.get('hdfs')!
  t.equal(hdfs.threshold, b.manifest.sources.hdfs.threshold)
  t.same(hdfs.tensors.map(x => x.name), b.manifest.encoder.source_tensors.map(x => x.name), 'tensors in encoder input order')
  const session = await ort.InferenceSession.create(b.encoderPath)
  t.teardown(() => session.release())
  await loadBundle(good, { session })
  t.pass('session inputs match the manifest')
  // --no-log-attention: the encoder still takes param_buckets, so workers feed every encoder alike
  const nb = await loadBundle(noLa)
  const s2 = await ort.InferenceSession.create(nb.encoderPath)
  t.teardown(() => s2.release())
  t.ok(s2.inputNames.includes('param_buckets'))
  t.notOk(nb.manifest.encoder.source_tensors.some(x => x.name === 'log_attention'))
  const B = 2; const T = 3; const D = nb.manifest.embedder.dimension; const P = nb.manifest.encoder.log_attention.max_params
  const feeds: Record<string, ort.Tensor> = {
    embeddings: new ort.Tensor('float32', new Float32Array(B * T * D).fill(0.1), [B, T, D]),
    mask: new ort.Tensor('float32', Float32Array.from([1, 1, 1, 1, 0, 0]), [B, T]),
    param_buckets: new ort.Tensor('int32', new Int32Array(B * T * P).fill(-1), [B, T, P]),
  }
  for (const a of nb.adapters.get('hdfs')!.tensors) feeds[a.name] = new ort.Tensor('float32', a.data, a.shape)
  const out = await s2.run(feeds)
  t.same(out.score.dims, [B])
  t.ok([...(out.score.data as Float32Array)].every(s => s > 0 && s < 1), 'scores are probabilities')
})

t.test('manifest that fails validation', async t => {
  const dir = await copy()
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))
  delete m.encoder.sha256
  m.encoder.d_model = '512'
  m.sources.hdfs.threshold = 3
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m))
  await refuses(t, dir, 'BUNDLE_MANIFEST_INVALID', /encoder\.sha256[\s\S]*encoder\.d_model[\s\S]*sources\.hdfs\.threshold/)
  t.throws(() => parseManifest('{not json'), { code: 'BUNDLE_MANIFEST_INVALID', message: /not JSON/ })
  const missing = join(p.root, 'nowhere')
  await refuses(t, missing, 'BUNDLE_NOT_FOUND', /manifest\.json/)
})

t.test('encoder.onnx that is not the one the manifest hashed', async t => {
  const dir = await copy()
  await appendFile(join(dir, 'encoder.onnx'), Buffer.from([0]))
  await refuses(t, dir, 'BUNDLE_ENCODER_HASH', /encoder\.onnx has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/)
})

t.test('adapter trained against another encoder', async t => {
  const dir = await copy()
  await cp(join(other, 'adapters'), join(dir, 'adapters'), { recursive: true }) // drop the other bundle's hdfs adapter in
  const mine = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')).encoder.sha256
  const theirs = JSON.parse(await readFile(join(other, 'manifest.json'), 'utf8')).encoder.sha256
  t.not(mine, theirs, 'two different encoders')
  await refuses(t, dir, 'ADAPTER_ENCODER_MISMATCH', new RegExp(`trained against encoder ${theirs}.*this bundle's encoder is ${mine}`))
  const err = await loadAdapter(dir, (await loadBundle(good)).manifest, 'hdfs').catch((e: ModelError) => e)
  t.ok((err as ModelError).recoverable, 'an adapter refusal is recoverable: the old adapter stays live')
})

t.test('adapter tensor of the wrong shape, not finite, missing or extra', async t => {
  const cases: [string, (x: Record<string, [number[], Float32Array]>) => void, RegExp][] = [
    ['wrong shape', x => { x['head.weight'] = [[16], new Float32Array(16)] }, /tensor "head\.weight": shape \[16\], the encoder takes \[32\]/],
    ['NaN', x => { x['head.bias'][1][0] = NaN }, /tensor "head\.bias": value NaN at flat index 0 is not finite/],
    ['missing', x => { delete x['final_ln.weight'] }, /tensor "final_ln\.weight": missing/],
    ['extra', x => { x['layers.9.extra'] = [[1], new Float32Array(1)] }, /tensors the encoder does not take: layers\.9\.extra/],
  ]
  for (const [name, edit, msg] of cases) {
    const dir = await copy()
    await editAdapter(dir, edit)
    await refuses(t, dir, 'ADAPTER_TENSOR_INVALID', msg)
    t.comment(name)
  }
  const dir = await copy()
  await writeFile(join(dir, 'adapters/hdfs.safetensors'), Buffer.from('not a tensor file at all'))
  await refuses(t, dir, 'ADAPTER_TENSOR_INVALID', /header length/)
})

t.test('manifest for another encoder than the ONNX file', async t => {
  const dir = await copy()
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))
  m.encoder.source_tensors.find((x: { name: string }) => x.name === 'head.weight').shape = [64]
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m))
  const session = await ort.InferenceSession.create(join(dir, 'encoder.onnx'))
  t.teardown(() => session.release())
  await refuses(t, dir, 'BUNDLE_ENCODER_INPUTS', /input "head\.weight" has shape \[32\], the manifest says \[64\]/, () => loadBundle(dir, { session, sources: [] }))
})

t.test('adapter versions count per source: the bundled model starts at hdfs#1 and bgl#1, a reload moves only its own', async t => {
  const { ModelRegistry } = await import('../../models/registry.js')
  const registry = await ModelRegistry.open(join(import.meta.dirname, '..', '..', 'models', 'default'))
  t.teardown(() => registry.close())
  const versions = (): Record<string, string | undefined> => Object.fromEntries(registry.sources.map(s => [s, registry.current(s)?.version]))
  const before = versions()
  t.same(Object.keys(before).sort(), ['bgl', 'hdfs', 'liberty', 'openstack', 'openstack-ait'], 'the five bundled adapters')
  t.ok(Object.entries(before).every(([s, v]) => v === `${s}#1`), `each at #1: ${JSON.stringify(before)}`)
  await registry.reload('bgl')
  t.same(versions(), { ...before, bgl: 'bgl#2' }, 'only bgl moved')
})
