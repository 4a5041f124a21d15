/**
 * Parameter buckets for Log-Attention.
 *
 * Each line's parameter values (what Drain put under `<*>`) become bucket ids:
 *
 *   bucket(value) = fnv1a32(UTF-8 bytes of value) mod B
 *
 * (`hash.ts` has the hash and a Python equivalent.) The first P values of a
 * line are kept, in the order Drain returns them; the rest of the row is
 * padded with -1. B and P are recorded in `meta.json` by `prepare` and in the
 * bundle manifest, and the sidecar must use the same values.
 */
import { fnv1a32 } from './hash.js'

export const DEFAULT_PARAM_BUCKETS = 1024
export const DEFAULT_MAX_PARAMS = 8
export const PARAM_PAD = -1

export interface ParamBucketOptions {
  /** B: number of buckets. */
  buckets: number
  /** P: parameters kept per line. */
  maxParams: number
}

export const DEFAULT_PARAM_OPTIONS: Readonly<ParamBucketOptions> = Object.freeze({
  buckets: DEFAULT_PARAM_BUCKETS,
  maxParams: DEFAULT_MAX_PARAMS,
})

export function paramBucket (value: string, buckets: number = DEFAULT_PARAM_BUCKETS): number {
  return fnv1a32(value) % buckets
}

/** Writes P bucket ids for one line into `out[offset .. offset+P)`. */
export function writeParamBuckets (
  params: readonly string[], out: Int32Array, offset: number,
  opts: ParamBucketOptions = DEFAULT_PARAM_OPTIONS,
): void {
  const n = Math.min(params.length, opts.maxParams)
  for (let i = 0; i < n; i++) out[offset + i] = paramBucket(params[i], opts.buckets)
  for (let i = n; i < opts.maxParams; i++) out[offset + i] = PARAM_PAD
}

/** The same P ids as `writeParamBuckets`, without the -1 padding (the sidecar keeps one short list per held line). */
export function paramBucketList (params: readonly string[], opts: ParamBucketOptions = DEFAULT_PARAM_OPTIONS): number[] {
  const n = Math.min(params.length, opts.maxParams)
  const out = new Array<number>(n)
  for (let i = 0; i < n; i++) out[i] = paramBucket(params[i], opts.buckets)
  return out
}

/** P bucket ids for one line, -1 padded. */
export function paramBuckets (params: readonly string[], opts: ParamBucketOptions = DEFAULT_PARAM_OPTIONS): Int32Array {
  const out = new Int32Array(opts.maxParams)
  writeParamBuckets(params, out, 0, opts)
  return out
}

export function checkParamOptions (opts: ParamBucketOptions): ParamBucketOptions {
  if (!Number.isInteger(opts.buckets) || opts.buckets < 1 || opts.buckets > 2 ** 31 - 1) {
    throw new RangeError(`param buckets: B must be an integer in [1, 2^31), got ${opts.buckets}`)
  }
  if (!Number.isInteger(opts.maxParams) || opts.maxParams < 1) {
    throw new RangeError(`param buckets: P must be an integer >= 1, got ${opts.maxParams}`)
  }
  return opts
}
