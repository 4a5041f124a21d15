/**
 * ONNX Runtime (onnxruntime-node) vs PyTorch on a trained bundle: for every
 * source in parity.json, the largest score / contribution difference and the
 * ORT latency of that batch (median of 20 runs, 1 intra-op thread).
 *
 *   npx tsx bench/trainer-parity.ts BUNDLE_DIR
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { loadBundle } from '../models/bundle.js'

interface B64 { dtype: 'float32' | 'int32', shape: number[], base64: string }

const dir = process.argv[2]
if (dir === undefined) { process.stderr.write('usage: npx tsx bench/trainer-parity.ts BUNDLE_DIR\n'); process.exit(64) }
const first = await loadBundle(dir)
const session = await ort.InferenceSession.create(first.encoderPath, { intraOpNumThreads: 1 })
const bundle = await loadBundle(dir, { session })
const parity = JSON.parse(await readFile(join(dir, 'parity.json'), 'utf8')) as { sources: Record<string, { inputs: Record<string, B64>, expected: { score: number[], contribution: number[][] } }> }
const e = bundle.manifest.encoder
console.log(`bundle ${dir}: d_model ${e.d_model}, ${e.layers} layers, ffn ${e.ffn}, adapter ${e.adapter_size}, Log-Attention ${e.log_attention.enabled ? 'on' : 'off'}`)
console.log('| source | B x T | max score diff | max contribution diff | ORT ms / batch (median of 20) |')
console.log('|---|---|---|---|---|')
for (const [source, entry] of Object.entries(parity.sources)) {
  const feeds: Record<string, ort.Tensor> = {}
  for (const [k, v] of Object.entries(entry.inputs)) {
    const buf = new Uint8Array(Buffer.from(v.base64, 'base64')).buffer
    feeds[k] = v.dtype === 'float32' ? new ort.Tensor('float32', new Float32Array(buf), v.shape) : new ort.Tensor('int32', new Int32Array(buf), v.shape)
  }
  for (const a of bundle.adapters.get(source)!.tensors) feeds[a.name] = new ort.Tensor('float32', a.data, a.shape)
  let out = await session.run(feeds)
  const times: number[] = []
  for (let i = 0; i < 20; i++) { const t0 = performance.now(); out = await session.run(feeds); times.push(performance.now() - t0) }
  times.sort((a, b) => a - b)
  const s = out.score.data as Float32Array
  const c = out.contribution.data as Float32Array
  const [B, T] = entry.inputs.mask.shape
  const ds = Math.max(...entry.expected.score.map((x, i) => Math.abs(x - s[i])))
  const dc = Math.max(...entry.expected.contribution.flatMap((row, b) => row.map((x, j) => Math.abs(x - c[b * T + j]))))
  console.log(`| ${source} | ${B} x ${T} | ${ds.toExponential(1)} | ${dc.toExponential(1)} | ${times[10].toFixed(2)} |`)
}
await session.release()
