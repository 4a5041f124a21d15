/**
 * A real model bundle made by the trainer, built once and cached under
 * os.tmpdir(): the worker-pool tests and bench/pool-throughput.ts score with
 * it (never a hand-made ONNX). The cache key hashes the trainer's sources,
 * the prepare code and the arguments below, so a trainer change rebuilds it.
 *
 *   first 5,000 lines of hdfs_loglead_2pct ─prepare (CLI)─▶ prepared/ ─pretrain (1 epoch, d_model 32)─▶ bundle/
 *
 * Built in a temp folder and renamed into place, so concurrent test files
 * never see half a bundle (the loser of the rename race uses the winner's).
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnTrainer } from '../../plugin/cli/train.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DATA = process.env.FLUENT_ANOMALY_DATASETS ?? join(ROOT, '..', 'shared', 'datasets')
const LINES = 5000
const PRETRAIN = ['--d-model', '32', '--ffn', '64', '--adapter-size', '8', '--layers', '1', '--epochs', '1',
  '--batch-size', '64', '--device', 'cpu', '--threads', '1', '--seed', '7', '--log-level', 'WARNING']

async function sourcesHash (): Promise<string> {
  const h = createHash('sha256').update(JSON.stringify({ LINES, PRETRAIN }))
  for (const dir of ['models/trainer', 'plugin/prepare', 'plugin/embedding']) {
    const files = (await readdir(join(ROOT, dir), { recursive: true }) as string[])
      .filter(f => /\.(py|ts)$/.test(f)).sort()
    for (const f of files) h.update(f).update(await readFile(join(ROOT, dir, f)))
  }
  return h.digest('hex').slice(0, 16)
}

function run (cmd: string, args: string[]): Promise<{ code: number, output: string }> {
  return new Promise(resolve => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { output += s })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { output += s })
    child.on('error', err => resolve({ code: 127, output: output + err.message }))
    child.on('close', code => resolve({ code: code ?? 1, output }))
  })
}

let building: Promise<string> | undefined

/** Path of a bundle with one source, `hdfs` (manifest, encoder.onnx, adapters/hdfs.*, parity.json). */
export function tinyBundle (): Promise<string> {
  building ??= build()
  return building
}

async function build (): Promise<string> {
  const cache = join(tmpdir(), 'fluent-anomaly-test-cache')
  const dir = join(cache, `pool-tiny-${await sourcesHash()}`)
  if (existsSync(join(dir, 'parity.json'))) return dir
  await mkdir(cache, { recursive: true })
  const work = await mkdtemp(join(cache, 'building-'))
  try {
    const log = join(work, 'hdfs.log')
    const text = await readFile(join(DATA, 'hdfs_loglead_2pct', 'HDFS_2pct.log'), 'utf8')
    await writeFile(log, text.split('\n').slice(0, LINES).join('\n') + '\n')
    const prepared = join(work, 'prepared')
    const prep = await run(process.execPath, ['--import', 'tsx', 'plugin/cli/main.ts', 'prepare', '--format', 'hdfs', '--quiet',
      '--logs', log, '--labels', join(DATA, 'hdfs_loglead_2pct', 'anomaly_label.csv'), '--out', prepared])
    if (prep.code !== 0) throw new Error(`prepare exited ${prep.code}:\n${prep.output}`)
    const bundle = join(work, 'bundle')
    const pre = await spawnTrainer(['pretrain', '--data', prepared, '--source', 'hdfs', '--out', bundle, ...PRETRAIN], { capture: true })
    if (pre.code !== 0) throw new Error(`trainer pretrain exited ${pre.code}:\n${pre.stderr}`)
    try {
      await rename(bundle, dir)
    } catch (err) {
      if (!existsSync(join(dir, 'parity.json'))) throw err // someone else won the race: use theirs
    }
    // bundles of older trainer sources are never used again
    for (const old of await readdir(cache)) {
      if (old.startsWith('pool-tiny-') && join(cache, old) !== dir) await rm(join(cache, old), { recursive: true, force: true })
    }
    return dir
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

// `npx tsx test/worker-pool/tiny-bundle.ts` prints the path (builds it if needed)
if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await tinyBundle())
