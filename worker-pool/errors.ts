/**
 * Errors of the scoring pool (worker-pool/pool.ts): codes `POOL_*` from the
 * one table in plugin/errors.ts. Callers match on `code`.
 */
import { FluentAnomalyError, type ErrorCode } from '../plugin/errors.js'

export type PoolErrorCode = Extract<ErrorCode, `POOL_${string}`>

export class PoolError extends FluentAnomalyError {
  declare readonly code: PoolErrorCode
  constructor (code: PoolErrorCode, message: string, opts: { cause?: unknown } = {}) {
    // QUEUE_FULL, RUN_FAILED, BAD_INPUT and EP_FALLBACK concern one call or batch: the pool carries on.
    super(code, message, { cause: opts.cause, recoverable: code === 'POOL_QUEUE_FULL' || code === 'POOL_RUN_FAILED' || code === 'POOL_BAD_INPUT' || code === 'POOL_EP_FALLBACK' })
    this.name = 'PoolError'
  }
}

export const isPoolError = (e: unknown): e is PoolError => e instanceof PoolError
