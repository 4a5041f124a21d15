/**
 * The trainer's Python unit tests (test/trainer/py/test_*.py: safetensors,
 * the encoder's masking / Log-Attention / contributions, threshold choice,
 * training loop) run from tap with the same interpreter the CLI uses.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { pythonBin, repoRoot } from '../../plugin/cli/train.js'

t.test('python -m unittest test/trainer/py', async t => {
  const r = spawnSync(pythonBin(), ['-m', 'unittest', 'discover', '-s', 'test/trainer/py', '-p', 'test_*.py', '-v'], {
    cwd: repoRoot(),
    encoding: 'utf8',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
  })
  const ran = /Ran (\d+) tests?/.exec(r.stderr)
  t.equal(r.status, 0, 'all Python tests pass', { output: r.stderr.slice(-4000) })
  t.ok(ran !== null && Number(ran[1]) >= 10, `ran ${ran?.[1]} tests`)
})
