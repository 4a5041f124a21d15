/**
 * Errors of the offline `prepare` command: codes from the one table in
 * plugin/errors.ts (`PREPARE_*`).
 */
import { FluentAnomalyError, type ErrorCode } from '../errors.js'

export type PrepareErrorCode = Extract<ErrorCode, `PREPARE_${string}`>

export class PrepareError extends FluentAnomalyError {
  declare readonly code: PrepareErrorCode
  constructor (code: PrepareErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(code, message, opts)
    this.name = 'PrepareError'
  }
}
