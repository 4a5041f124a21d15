/**
 * `fluent-anomaly eval --bundle DIR --data PREPARED_DIR --source NAME [--report FILE.json] [--html FILE.html] [--scores FILE.jsonl]`:
 * precision, recall, F1, ROC-AUC and PR-AUC of a bundle's source (and of its
 * decision rule as shipped) on the test split of a prepared folder, beside four
 * simple detectors: logistic regression, decision tree, 1-nearest-neighbour,
 * unseen template (python3 -m models.trainer evaluate). Prints a table
 * (stderr) and the JSON report (stdout). --html writes one self-contained page
 * (models/trainer/report.py: inline SVG plots drawn from the JSON report alone,
 * so --report holds every number the page shows; needs matplotlib).
 */
import { spawnTrainer } from './train.js'

export const EVAL_USAGE = `usage: fluent-anomaly eval --bundle DIR --data PREPARED_DIR --source NAME [options]

  --bundle DIR         repeat with bundles of the same source trained with other seeds: their spread
  --report FILE.json   the JSON summary (also printed on stdout): metrics, detectors, and what --html plots
  --html FILE.html     one self-contained page: precision-recall curve, score histogram per class,
                       confusion matrix, templates over-represented in anomalous windows (needs matplotlib)
  --scores FILE.jsonl  every window's score (row, split, key, line span, label, score, is_anomaly)
  --device auto|cpu|cuda  --threads N  --seed N
"fluent-anomaly eval --help" lists every option.
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
