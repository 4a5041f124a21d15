/**
 * The trainer's parity batch (parity.json, models/trainer/export.py) as pool
 * windows: the inputs PyTorch scored at export time and its scores for them.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadBundle, type Adapter } from '../../models/bundle.js'
import type { FlatWindow } from '../../worker-pool/pool.js'

interface B64 { dtype: 'float32' | 'int32', shape: number[], base64: string }
interface ParityEntry { inputs: Record<'embeddings' | 'mask' | 'param_buckets', B64>, expected: { score: number[], contribution: number[][] } }

export interface Parity {
  encoderPath: string
  adapter: Adapter
  D: number
  P: number
  /** The batch's rows, each padded to the batch's T as the trainer sent them (mask included). */
  padded: FlatWindow[]
  /** The same rows cut to their real lines, no mask: what the plugin's windowing hands over. */
  trimmed: FlatWindow[]
  expected: { score: number[], contribution: number[][] }
}

const decode = (a: B64): Float32Array | Int32Array => {
  const bytes = new Uint8Array(Buffer.from(a.base64, 'base64')) // a copy: aligned
  return a.dtype === 'float32' ? new Float32Array(bytes.buffer) : new Int32Array(bytes.buffer)
}

export async function loadParity (dir: string, source = 'hdfs'): Promise<Parity> {
  const bundle = await loadBundle(dir, { sources: [source] })
  const entry = (JSON.parse(await readFile(join(dir, 'parity.json'), 'utf8')) as { sources: Record<string, ParityEntry> }).sources[source]
  const emb = decode(entry.inputs.embeddings) as Float32Array
  const mask = decode(entry.inputs.mask) as Float32Array
  const buckets = decode(entry.inputs.param_buckets) as Int32Array
  const [B, T, D] = entry.inputs.embeddings.shape
  const P = entry.inputs.param_buckets.shape[2]
  const padded: FlatWindow[] = []
  const trimmed: FlatWindow[] = []
  for (let b = 0; b < B; b++) {
    const m = mask.slice(b * T, (b + 1) * T)
    const n = m.reduce((a, v) => a + v, 0)
    padded.push({ embeddings: emb.slice(b * T * D, (b + 1) * T * D), paramBuckets: buckets.slice(b * T * P, (b + 1) * T * P), mask: m })
    trimmed.push({ embeddings: emb.slice(b * T * D, (b * T + n) * D), paramBuckets: buckets.slice(b * T * P, (b * T + n) * P) })
  }
  return { encoderPath: bundle.encoderPath, adapter: bundle.adapters.get(source)!, D, P, padded, trimmed, expected: entry.expected }
}
