/** `fluent-anomaly serve --config FILE`: run the sidecar until SIGINT/SIGTERM. */
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from '../../config/load.js'
import { isFluentAnomalyError } from '../errors.js'
import { buildSidecar } from '../index.js'

export async function runServe (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c', default: 'config/default.yaml' } } })
  let config
  try {
    config = loadConfig(values.config as string)
  } catch (e) {
    if (isFluentAnomalyError(e)) { process.stderr.write(`fluent-anomaly: [${e.code}] ${e.message}\n`); return 78 } // EX_CONFIG
    throw e
  }
  let sidecar
  try {
    sidecar = await buildSidecar(config, { baseDir: dirname(resolve(values.config as string)) })
    await sidecar.start()
  } catch (e) {
    const code = (e as { code?: string }).code
    process.stderr.write(`fluent-anomaly: cannot start: ${code === undefined ? "" : `[${code}] `}${(e as Error).message}\n`)
    return 1
  }
  const running = sidecar
  await new Promise<void>(resolve => {
    const onSignal = (sig: string): void => {
      running.parts.telemetry.log.info({ signal: sig }, 'shutting down')
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      void running.stop().then(resolve)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  return 0
}
