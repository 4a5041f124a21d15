/**
 * `fluent-anomaly eval --bundle DIR --data PREPARED_DIR --source NAME [--report FILE.json] [--scores FILE.jsonl]`:
 * precision, recall, F1 and ROC-AUC of a bundle's source on the test split of a
 * prepared folder, beside logistic-regression and decision-tree baselines on
 * event-count vectors (python3 -m models.trainer evaluate). Prints a table
 * (stderr) and the JSON report (stdout).
 */
import { spawnTrainer } from './train.js'

export const EVAL_USAGE = `usage: fluent-anomaly eval --bundle DIR --data PREPARED_DIR --source NAME [--report FILE.json] [--scores FILE.jsonl] [--device auto|cpu|cuda]
`

export async function runEval (argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help') {
    process.stdout.write(EVAL_USAGE)
    return argv.length === 0 ? 64 : 0
  }
  const r = await spawnTrainer(['evaluate', ...argv])
  if (r.code === 69) process.stderr.write(r.stderr)
  return r.code
}
