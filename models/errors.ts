/**
 * Errors of model bundles and adapters (models/bundle.ts, models/registry.ts):
 * codes `BUNDLE_*` and `ADAPTER_*` from the one table in plugin/errors.ts.
 */
import { FluentAnomalyError, type ErrorCode } from '../plugin/errors.js'

export type ModelErrorCode = Extract<ErrorCode, `BUNDLE_${string}` | `ADAPTER_${string}`>

export class ModelError extends FluentAnomalyError {
  declare readonly code: ModelErrorCode
  constructor (code: ModelErrorCode, message: string, opts: { cause?: unknown, recoverable?: boolean } = {}) {
    // A bad adapter is refused and the old one stays live: the caller carries on.
    super(code, message, { cause: opts.cause, recoverable: opts.recoverable ?? code.startsWith('ADAPTER_') })
    this.name = 'ModelError'
  }
}

export const isModelError = (e: unknown): e is ModelError => e instanceof ModelError
