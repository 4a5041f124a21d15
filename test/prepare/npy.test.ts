import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeNpy, encodeNpy, npyHeader, writeNpy } from '../../plugin/prepare/npy.js'
import { NO_NUMPY, pythonWithNumpy, runPythonJson } from './numpy-python.js'

const dir = t.testdir({})
const arrays = {
  f4: { data: Float32Array.from([0, 1.5, -2.25, 3.4028234663852886e38, 1e-45, 0.1]), shape: [2, 3] },
  i4: { data: Int32Array.from([-1, 0, 1, 2147483647, -2147483648, 7, 8, 9]), shape: [2, 2, 2] },
  u1: { data: Uint8Array.from([0, 1, 255]), shape: [3] },
  f8: { data: Float64Array.from([1226262930.5, -0.1, Number.MAX_VALUE]), shape: [3] },
  empty: { data: new Int32Array(0), shape: [0, 20] },
}

t.before(async () => {
  for (const [name, a] of Object.entries(arrays)) await writeNpy(join(dir, `${name}.npy`), a.data, a.shape)
})

t.test('header is format 1.0, 64-byte aligned, and describes dtype and shape', async t => {
  for (const [dtype, shape, text] of [['<f4', [2, 3], "'shape': (2, 3)"], ['|u1', [3], "'shape': (3,)"], ['<i4', [0, 20], "'shape': (0, 20)"]] as const) {
    const h = npyHeader(dtype, shape)
    t.equal(h.length % 64, 0)
    t.same([...h.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0])
    t.equal(h.readUInt16LE(8), h.length - 10)
    const s = h.toString('latin1')
    t.match(s, `'descr': '${dtype}'`)
    t.match(s, "'fortran_order': False")
    t.match(s, text)
    t.equal(s[s.length - 1], '\n')
  }
})

t.test('every dtype round-trips through the file bit for bit', async t => {
  for (const [name, a] of Object.entries(arrays)) {
    const back = decodeNpy(readFileSync(join(dir, `${name}.npy`)))
    t.same(back.shape, a.shape, `${name} shape`)
    t.same([...back.data], [...a.data], `${name} values`)
    t.equal(back.data.constructor, a.data.constructor, `${name} type`)
  }
})

t.test('a shape that does not fit the data is refused', async t => {
  t.throws(() => encodeNpy(new Float32Array(5), [2, 3]), /holds 6 values, data has 5/)
  await t.rejects(writeNpy(join(dir, 'bad.npy'), new Int32Array(3), [4]), /holds 4 values/)
})

const py = pythonWithNumpy()

t.test('numpy loads every array with the same dtype, shape and values', { skip: py === undefined ? NO_NUMPY : false }, async t => {
  if (py === undefined) return
  const got = runPythonJson(py, `
import json, numpy as np
out = {}
for n in ['f4', 'i4', 'u1', 'f8', 'empty']:
    a = np.load('${dir}/' + n + '.npy', allow_pickle=False)
    out[n] = {'dtype': a.dtype.str, 'shape': list(a.shape), 'values': [float(x) for x in a.reshape(-1)], 'c': bool(a.flags['C_CONTIGUOUS'])}
print(json.dumps(out))
`) as Record<string, { dtype: string, shape: number[], values: number[], c: boolean }>
  const dtypes: Record<string, string> = { f4: '<f4', i4: '<i4', u1: '|u1', f8: '<f8', empty: '<i4' }
  for (const [name, a] of Object.entries(arrays)) {
    t.equal(got[name].dtype, dtypes[name], `${name} dtype`)
    t.same(got[name].shape, a.shape, `${name} shape`)
    t.same(got[name].values, [...a.data], `${name} values`)
    t.ok(got[name].c, `${name} C order`)
  }
})
