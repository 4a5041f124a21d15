/**
 * Reading safetensors files (https://github.com/huggingface/safetensors#format),
 * the format of the bundle's adapters (models/trainer/safetensors.py writes them):
 *
 *   bytes 0..8      u64 little-endian N, length of the JSON header
 *   bytes 8..8+N    {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}
 *   bytes 8+N..     tensor data, little-endian, C order; offsets are relative to here
 *
 * Throws RangeError on anything malformed; callers wrap it with their own code.
 */
export type SafetensorsDtype = 'F32' | 'F64' | 'F16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL'

const ITEM_SIZE: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 }
const MAX_HEADER = 100_000_000

export interface RawTensor {
  dtype: SafetensorsDtype
  shape: number[]
  /** The tensor's bytes (a copy, so typed views on it are aligned). */
  bytes: Uint8Array
}

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>
  metadata: Record<string, string>
}

export function decodeSafetensors (buf: Uint8Array, name = 'safetensors file'): SafetensorsFile {
  if (buf.length < 8) throw new RangeError(`${name}: ${buf.length} bytes, too short for a header`)
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const n = Number(view.getBigUint64(0, true))
  if (n > MAX_HEADER || 8 + n > buf.length) throw new RangeError(`${name}: header length ${n} does not fit the ${buf.length}-byte file`)
  let header: unknown
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)))
  } catch (err) {
    throw new RangeError(`${name}: header is not JSON (${(err as Error).message})`)
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new RangeError(`${name}: header is not a JSON object`)
  const body = buf.subarray(8 + n)
  const tensors = new Map<string, RawTensor>()
  let metadata: Record<string, string> = {}
  for (const [key, info] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') { metadata = info as Record<string, string>; continue }
    const t = info as { dtype?: unknown, shape?: unknown, data_offsets?: unknown }
    const dtype = t.dtype as SafetensorsDtype
    if (typeof t.dtype !== 'string' || !(t.dtype in ITEM_SIZE)) throw new RangeError(`${name}: tensor "${key}" has unknown dtype ${JSON.stringify(t.dtype)}`)
    const shape = t.shape
    if (!Array.isArray(shape) || !shape.every(d => Number.isInteger(d) && d >= 0)) throw new RangeError(`${name}: tensor "${key}" has a bad shape ${JSON.stringify(shape)}`)
    const off = t.data_offsets
    if (!Array.isArray(off) || off.length !== 2 || !off.every(o => Number.isInteger(o))) throw new RangeError(`${name}: tensor "${key}" has bad data_offsets`)
    const [begin, end] = off as [number, number]
    const want = (shape as number[]).reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype]
    if (begin < 0 || end > body.length || end - begin !== want) {
      throw new RangeError(`${name}: tensor "${key}" offsets [${begin}, ${end}) do not hold ${dtype} [${shape.join(', ')}] in a ${body.length}-byte body`)
    }
    tensors.set(key, { dtype, shape: shape as number[], bytes: body.slice(begin, end) })
  }
  return { tensors, metadata }
}

/** Float32 view of an F32 tensor (little-endian hosts: x64, arm64). */
export function asFloat32 (t: RawTensor): Float32Array {
  if (t.dtype !== 'F32') throw new RangeError(`expected F32, got ${t.dtype}`)
  return new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4)
}
