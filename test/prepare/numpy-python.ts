/**
 * Finds a Python that can `import numpy`, for the tests that load our .npy
 * files with numpy itself. Tried in order: $PYTHON, python3 on PATH,
 * /usr/bin/python3. Undefined when none can (the tests then skip that check
 * and say why; CI should install python3-numpy).
 */
import { spawnSync } from 'node:child_process'

let found: string | null | undefined

export function pythonWithNumpy (): string | undefined {
  if (found !== undefined) return found ?? undefined
  const candidates = [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => c !== undefined && c !== '')
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import numpy'], { encoding: 'utf8' })
    if (r.status === 0) { found = py; return py }
  }
  found = null
  return undefined
}

export const NO_NUMPY = 'no python3 with numpy ($PYTHON, python3, /usr/bin/python3): install python3-numpy to check the .npy files with numpy itself'

/** Runs a Python snippet that prints one JSON value; returns it parsed. */
export function runPythonJson (py: string, code: string): unknown {
  const r = spawnSync(py, ['-c', code], { encoding: 'utf8', maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`)
  return JSON.parse(r.stdout)
}
