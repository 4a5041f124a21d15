/**
 * `fluent-anomaly train <mode> ...`: runs the bundled Python trainer
 * (`python3 -m models.trainer`, models/trainer/) from the repository root and
 * streams its output. The trainer's own `--help` lists every option.
 * Python: $FLUENT_ANOMALY_PYTHON, else /usr/bin/python3 (needs torch, onnx,
 * numpy, scikit-learn). Exit code: the trainer's (0 ok, 2 usage, 65 data or
 * bundle does not fit), 69 when Python cannot be started.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const TRAIN_MODES = ['pretrain', 'adapt', 'finetune', 'scratch'] as const

export const TRAIN_USAGE = `usage: fluent-anomaly train <mode> --data PREPARED_DIR --source NAME [options]

modes:
  pretrain  --out BUNDLE             encoder + per-source tensors on the source domain (new bundle)
  adapt     --bundle BUNDLE [--out]  frozen encoder; train only the source's adapter, add it to the bundle
  finetune  --bundle BUNDLE --out B  baseline: all weights from the bundle's encoder (new bundle)
  scratch   --out BUNDLE             baseline: same architecture, random init, target data only

common: --epochs N --batch-size N --lr F --seed N --device auto|cpu|cuda --train-size N --patience N
pretrain / scratch: --d-model 512 --ffn 2048 --layers 1|2|4 --adapter-size 64 --no-log-attention
"fluent-anomaly train <mode> --help" lists every option of a mode.
`

/** The folder holding models/trainer (works from plugin/cli/ and from dist/plugin/cli/). */
export function repoRoot (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    if (existsSync(join(dir, 'models', 'trainer', '__main__.py'))) return dir
    const up = dirname(dir)
    if (up === dir) throw new Error('cannot find models/trainer/ above ' + fileURLToPath(import.meta.url))
    dir = up
  }
}

export const pythonBin = (): string => process.env.FLUENT_ANOMALY_PYTHON ?? '/usr/bin/python3'

export interface TrainerRun { code: number, stdout: string, stderr: string }

/**
 * Run `python3 -m models.trainer ...args` with cwd = repository root.
 * capture: collect stdout / stderr (tests, scripts); otherwise they stream to this process's.
 */
export function spawnTrainer (args: string[], opts: { capture?: boolean, env?: NodeJS.ProcessEnv } = {}): Promise<TrainerRun> {
  return new Promise(resolve => {
    const child = spawn(pythonBin(), ['-m', 'models.trainer', ...args], {
      cwd: repoRoot(),
      env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', ...opts.env },
      stdio: opts.capture === true ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    })
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    child.on('error', err => {
      resolve({ code: 69, stdout, stderr: stderr + `cannot start ${pythonBin()}: ${err.message} (set FLUENT_ANOMALY_PYTHON)\n` })
    })
    child.on('close', (code, signal) => resolve({ code: code ?? (signal !== null ? 130 : 1), stdout, stderr }))
  })
}

export async function runTrain (argv: string[]): Promise<number> {
  const [mode] = argv
  if (mode === undefined || mode === '-h' || mode === '--help' || mode === 'help') {
    process.stdout.write(TRAIN_USAGE)
    return mode === undefined ? 64 : 0
  }
  if (!(TRAIN_MODES as readonly string[]).includes(mode)) {
    process.stderr.write(`fluent-anomaly train: unknown mode "${mode}"\n${TRAIN_USAGE}`)
    return 64
  }
  const r = await spawnTrainer(argv)
  if (r.code === 69) process.stderr.write(r.stderr)
  return r.code
}
