#!/usr/bin/env node
/**
 * fluent-anomaly CLI: one subcommand per job.
 *   serve    run the sidecar (default config: config/default.yaml)
 *   prepare  turn raw logs + labels into training data (templates, windows, .npy arrays)
 *   train    run the bundled trainer (python3 -m models.trainer): pretrain, adapt, finetune, scratch
 *   eval     evaluate a bundle on prepared data, beside four simple detectors
 *   replay   send a log file through a running sidecar and report what came back
 */
const USAGE = `usage: fluent-anomaly <command> [options]

commands:
  serve   --config FILE        run the sidecar (Forward in, scored Forward out)
  prepare --format hdfs|bgl|thunderbird|generic|sequences --logs FILE|DIR [--labels FILE] --out DIR
                               turn raw logs into prepared training data (see README)
  train   pretrain|adapt|finetune|scratch --data DIR --source NAME --out BUNDLE [...]
                               train on prepared data (python3 -m models.trainer; see README)
  eval    --bundle DIR --data DIR --source NAME [--report FILE] [--scores FILE] [--html FILE]
                               precision, recall, F1, ROC-AUC, PR-AUC on the test split, beside
                               logistic regression, a decision tree, 1-NN and unseen-template detectors
  replay  FILE --tag TAG [--labels FILE]
                               send a log file through a running sidecar, print windows,
                               anomalies (and precision / recall / F1 with labels)
`

async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'serve': return (await import('./serve.js')).runServe(rest)
    case 'prepare': return (await import('./prepare.js')).runPrepare(rest)
    case 'train': return (await import('./train.js')).runTrain(rest)
    case 'eval': return (await import('./eval.js')).runEval(rest)
    case 'replay': return (await import('./replay.js')).runReplay(rest)
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(USAGE)
      return cmd === undefined ? 64 : 0
    default:
      process.stderr.write(`fluent-anomaly: unknown command "${cmd}"\n${USAGE}`)
      return 64
  }
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, err => {
  process.stderr.write(`fluent-anomaly: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = 1
})
