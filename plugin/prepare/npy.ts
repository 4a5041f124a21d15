/**
 * Minimal .npy writer/reader (format 1.0:
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 *   "\x93NUMPY" 0x01 0x00  u16 LE header length
 *   header: "{'descr': '<f4', 'fortran_order': False, 'shape': (N, T), }"
 *           space-padded, ending in "\n", so that magic+length+header is a
 *           multiple of 64 bytes (what numpy itself writes)
 *   data:   little-endian, C order
 *
 * Supported dtypes: float32 '<f4', int32 '<i4', uint8 '|u1', float64 '<f8'.
 * The typed arrays are written as they are in memory, which is little-endian
 * on every platform Node runs on in practice (x64, arm64); `assertLittleEndian`
 * refuses the rest rather than write wrong bytes.
 */
import { open, readFile } from 'node:fs/promises'

export type NpyDtype = '<f4' | '<i4' | '|u1' | '<f8'
export type NpyData = Float32Array | Int32Array | Uint8Array | Float64Array

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]) // \x93NUMPY

export function dtypeOf (data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return '<f4'
  if (data instanceof Int32Array) return '<i4'
  if (data instanceof Float64Array) return '<f8'
  return '|u1'
}

function assertLittleEndian (): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('npy: big-endian platform not supported')
}

export function npyHeader (dtype: NpyDtype, shape: readonly number[]): Buffer {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${dims}, }`
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1
  const total = Math.ceil(unpadded / 64) * 64
  const headerLen = total - (MAGIC.length + 4)
  if (headerLen > 0xffff) throw new RangeError('npy: header too long for format 1.0')
  const out = Buffer.alloc(total, 0x20)
  MAGIC.copy(out, 0)
  out[6] = 1
  out[7] = 0
  out.writeUInt16LE(headerLen, 8)
  out.write(dict, 10, 'latin1')
  out[total - 1] = 0x0a
  return out
}

export function encodeNpy (data: NpyData, shape: readonly number[]): Buffer {
  assertLittleEndian()
  const count = shape.reduce((a, b) => a * b, 1)
  if (count !== data.length) throw new RangeError(`npy: shape [${shape.join(', ')}] holds ${count} values, data has ${data.length}`)
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  return Buffer.concat([npyHeader(dtypeOf(data), shape), body])
}

/** Writes one array; large arrays go straight from the typed array to the file without a copy. */
export async function writeNpy (file: string, data: NpyData, shape: readonly number[]): Promise<void> {
  assertLittleEndian()
  const count = shape.reduce((a, b) => a * b, 1)
  if (count !== data.length) throw new RangeError(`npy: shape [${shape.join(', ')}] holds ${count} values, data has ${data.length}`)
  const fh = await open(file, 'w')
  try {
    await fh.write(npyHeader(dtypeOf(data), shape))
    await fh.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  } finally {
    await fh.close()
  }
}

export interface NpyArray {
  dtype: NpyDtype
  shape: number[]
  data: NpyData
}

/** Reads what writeNpy writes (v1.0/2.0, little-endian, C order); used by tests and the eval command. */
export function decodeNpy (buf: Uint8Array): NpyArray {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  if (!b.subarray(0, 6).equals(MAGIC)) throw new Error('npy: bad magic')
  const major = b[6]
  const headerLen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  const header = b.subarray(start, start + headerLen).toString('latin1')
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1]
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1]
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr === undefined || shapeText === undefined) throw new Error(`npy: unreadable header ${header}`)
  if (fortran === 'True') throw new Error('npy: Fortran order not supported')
  const shape = shapeText.split(',').map(s => s.trim()).filter(s => s !== '').map(Number)
  const count = shape.reduce((a, c) => a * c, 1)
  const off = start + headerLen
  const bytes = new Uint8Array(b.subarray(off, off + count * sizeOf(descr))) // copy: aligned
  let data: NpyData
  switch (descr) {
    case '<f4': data = new Float32Array(bytes.buffer, 0, count); break
    case '<i4': data = new Int32Array(bytes.buffer, 0, count); break
    case '<f8': data = new Float64Array(bytes.buffer, 0, count); break
    case '|u1': case '<u1': data = bytes; break
    default: throw new Error(`npy: dtype ${descr} not supported`)
  }
  return { dtype: descr === '<u1' ? '|u1' : descr as NpyDtype, shape, data }
}

function sizeOf (descr: string): number {
  const n = Number(descr.slice(2))
  if (!Number.isInteger(n)) throw new Error(`npy: dtype ${descr} not supported`)
  return n
}

export async function readNpy (file: string): Promise<NpyArray> {
  return decodeNpy(await readFile(file))
}
