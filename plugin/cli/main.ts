#!/usr/bin/env node
/**
 * fluent-anomaly CLI: one subcommand per job.
 *   serve    run the sidecar (default config: config/default.yaml)
 *   prepare  turn raw logs + labels into training data (templates, windows, .npy arrays)
 */
const USAGE = `usage: fluent-anomaly <command> [options]

commands:
  serve   --config FILE        run the sidecar (Forward in, scored Forward out)
  prepare --format hdfs|bgl|thunderbird|generic --logs FILE [--labels FILE] --out DIR
                               turn raw logs into prepared training data (see README)
`

async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'serve': return (await import('./serve.js')).runServe(rest)
    case 'prepare': return (await import('./prepare.js')).runPrepare(rest)
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
