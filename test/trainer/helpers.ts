/**
 * Shared set-up of the trainer tests: small prepared folders from the real
 * shared samples, and a tiny model so every mode trains in seconds on CPU.
 *
 *   hdfs  first 20,000 lines of hdfs_loglead_2pct (1,324 block sessions) with the full label file; whole
 *         sessions (idle 12 h of log time, no max age), the policy the bundled model is trained and served with
 *   bgl   loghub BGL_2k (100 sliding windows of 20; no time limits: its 2,000 lines are sampled over 7
 *         months), prepared with the hdfs embedder (one vector space)
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { prepare } from '../../plugin/prepare/prepare.js'
import { createProgress } from '../../plugin/prepare/progress.js'
import { spawnTrainer, type TrainerRun } from '../../plugin/cli/train.js'

export const DATA = (process.env.FLUENT_ANOMALY_DATASETS ?? new URL('../../../shared/datasets', import.meta.url).pathname) + '/'

/** Small enough to train in ~1 s per epoch on one core, big enough to learn HDFS. */
export const TINY = ['--d-model', '32', '--ffn', '64', '--adapter-size', '8', '--layers', '1']
export const FAST = ['--epochs', '2', '--batch-size', '64', '--device', 'cpu', '--threads', '1', '--log-level', 'WARNING']

export interface Prepared { root: string, hdfs: string, bgl: string }

/** The window policies of models/build-default.sh, as prepare options (ms; null = no limit). */
export const HDFS_POLICY = { idleTimeout: 12 * 3_600_000, maxAge: null }
export const NO_TIME_LIMITS = { idleTimeout: null, maxAge: null }

export async function prepareSmall (prefix = 'fa-trainer-'): Promise<Prepared> {
  const root = await mkdtemp(join(tmpdir(), prefix))
  const lines = (await readFile(DATA + 'hdfs_loglead_2pct/HDFS_2pct.log', 'utf8')).split('\n').slice(0, 20000)
  const log = join(root, 'hdfs-20k.log')
  await writeFile(log, lines.join('\n') + '\n')
  const progress = createProgress(process.stderr, { quiet: true })
  const hdfs = join(root, 'prep-hdfs')
  await prepare({ format: 'hdfs', logs: log, labels: DATA + 'hdfs_loglead_2pct/anomaly_label.csv', out: hdfs, progress, idleTimeout: HDFS_POLICY.idleTimeout, maxAge: HDFS_POLICY.maxAge })
  const bgl = join(root, 'prep-bgl')
  await prepare({ format: 'bgl', logs: DATA + 'loghub_2k/BGL/BGL_2k.log', out: bgl, embedder: join(hdfs, 'embedder.safetensors'), progress, ...NO_TIME_LIMITS })
  return { root, hdfs, bgl }
}

export interface TrainerResult extends TrainerRun { json: any }

/** Run the trainer; `json` is the result object it prints last on stdout (null if none). */
export async function trainer (args: string[]): Promise<TrainerResult> {
  const r = await spawnTrainer(args, { capture: true })
  const last = r.stdout.trim().split('\n').filter(l => l.startsWith('{')).pop()
  return { ...r, json: last === undefined ? null : JSON.parse(last) }
}

/** pretrain a tiny bundle on the prepared hdfs folder. */
export async function pretrainTiny (p: Prepared, out: string, extra: string[] = []): Promise<TrainerResult> {
  return trainer(['pretrain', '--data', p.hdfs, '--source', 'hdfs', '--out', out, ...TINY, ...FAST, ...extra])
}
