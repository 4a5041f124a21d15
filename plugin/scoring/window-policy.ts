/**
 * Which windows a source serves: one train/serve contract (issue 16).
 *
 *   config sources[].window ──key set?──▶ served
 *                 │ no
 *                 ▼
 *   manifest sources[<adapter>].window ──key recorded?──▶ served (null = no limit)
 *                 │ no (a bundle from before the policy was recorded)
 *                 ▼
 *   WINDOW_DEFAULTS (config/schema.ts)
 *
 * `prepare` cuts the training windows under a policy (session key, idle
 * timeout, max age, max length in event time; sliding size / step) and the
 * trainer copies it into the manifest. A model scored on other windows than
 * it was trained on can lose its detection entirely (HDFS: F1 1.0 on whole
 * block sessions, 0.21 on 30-second fragments), so a config value that
 * differs from the trained one is reported (WINDOW_POLICY_MISMATCH) rather
 * than silently served. Pure: the caller logs and exports the result.
 */
import { WINDOW_DEFAULTS, type SourceConfig } from '../../config/schema.js'
import type { Manifest } from '../../models/manifest.js'
import { FluentAnomalyError } from '../errors.js'
import { formatDuration, limit } from '../prepare/window-policy.js'
import type { WindowSpec } from './source-runtime.js'

export type TrainedWindow = Manifest['sources'][string]['window']

/** The window keys of the contract, as the config names them. */
export type PolicyKey = 'mode' | 'key_pattern' | 'key_field' | 'size' | 'step' | 'group_by' | 'idle_timeout' | 'max_age' | 'max_length'

export type Origin = 'config' | 'trained' | 'default'

export interface Mismatch { key: PolicyKey, trained: unknown, configured: unknown }

export interface ResolvedWindow {
  window: WindowSpec
  time: 'event' | 'arrival'
  /** Lines of a window the encoder sees: the trained T (prepare keeps a window's first T lines); the encoder's max_len for a bundle without a recorded policy. */
  maxLen: number
  /** The manifest records the policy the adapter was trained with (bundles from before issue 16 do not). */
  known: boolean
  /** Keys whose served value differs from the trained one (only from the config: the defaults fill in only what the bundle does not record). */
  mismatches: Mismatch[]
  /** Where each served key came from. */
  origin: Partial<Record<PolicyKey, Origin>>
  /** The limits served as "no limit": idle_timeout, max_age, max_length (sessions). */
  unlimited: PolicyKey[]
}

/** Keys that only bundles with a recorded policy have. */
const POLICY_KEYS = ['clock', 'idle_timeout_ms', 'max_age_ms', 'max_length', 'key_from', 'truncation'] as const

/** Whether the manifest records the window policy (any key only the new `prepare` writes). */
export function recordsPolicy (w: TrainedWindow): boolean {
  return POLICY_KEYS.some(k => (w as Record<string, unknown>)[k] !== undefined)
}

/** The first defined of config, trained, default, and where it came from. */
function pick<V> (configured: V | undefined, trained: V | undefined, fallback: V): [V, Origin] {
  if (configured !== undefined) return [configured, 'config']
  if (trained !== undefined) return [trained, 'trained']
  return [fallback, 'default']
}

const invalid = (msg: string): never => { throw new FluentAnomalyError('WINDOW_INVALID', msg) }

/** A value as the warning prints it: durations readable, null as none. */
export function showValue (key: PolicyKey, v: unknown): string {
  if (v === null || v === undefined) return 'none'
  if ((key === 'idle_timeout' || key === 'max_age') && typeof v === 'number') return formatDuration(v)
  return typeof v === 'string' ? JSON.stringify(v) : String(v)
}

export function resolveWindow (src: SourceConfig, trained: TrainedWindow, encoderMaxLen: number): ResolvedWindow {
  const w = src.window
  const known = recordsPolicy(trained)
  const origin: ResolvedWindow['origin'] = {}
  const mismatches: Mismatch[] = []
  /** Served value of `key`; compared with the trained value when the bundle records one. */
  const serve = <V>(key: PolicyKey, configured: V | undefined, trainedValue: V | undefined, fallback: V): V => {
    const [v, from] = pick(configured, trainedValue, fallback)
    origin[key] = from
    if (trainedValue !== undefined && from === 'config' && v !== trainedValue) mismatches.push({ key, trained: trainedValue, configured: v })
    return v
  }
  const mode = serve('mode', w.mode, trained.mode, WINDOW_DEFAULTS.mode)
  // A limit the bundle does not record (an old bundle) is not compared: the model's windows are unknown there.
  const idle = serve('idle_timeout', w.idle_timeout, mode === trained.mode ? trained.idle_timeout_ms : undefined, WINDOW_DEFAULTS.idle_timeout)
  const maxAge = serve('max_age', w.max_age, mode === trained.mode ? trained.max_age_ms : undefined, WINDOW_DEFAULTS.max_age)
  const unlimited: PolicyKey[] = []
  if (idle === null) unlimited.push('idle_timeout')
  if (maxAge === null) unlimited.push('max_age')
  const common = { idleMs: limit(idle), maxAgeMs: limit(maxAge), maxOpen: w.max_open }
  const from = (key: PolicyKey): string => ({ config: 'the config', trained: 'the bundle', default: 'the built-in default' })[origin[key] ?? 'default']
  let window: WindowSpec
  if (mode === 'sliding') {
    const same = trained.mode === 'sliding'
    const size = serve('size', w.size, same ? trained.size : undefined, 20)
    // A configured size without a step: the step follows it (no overlap), as the schema documents.
    const trainedStep = same ? trained.step : undefined
    const [step, stepFrom] = w.step !== undefined ? [w.step, 'config' as const] : w.size !== undefined ? [size, 'config' as const] : pick(undefined, trainedStep, size)
    origin.step = stepFrom
    if (trainedStep !== undefined && stepFrom === 'config' && step !== trainedStep) mismatches.push({ key: 'step', trained: trainedStep, configured: step })
    if (step > size) invalid(`source "${src.name}": window.step ${step} (from ${from('step')}) is larger than window.size ${size} (from ${from('size')}): lines would fall in no window`)
    const groupBy = serve<string | null>('group_by', w.group_by, same ? trained.group_by : undefined, null)
    window = { mode, size, step, groupBy: groupBy ?? undefined, ...common }
  } else {
    const same = trained.mode === 'session'
    const keyPattern = serve<string | null>('key_pattern', w.key_pattern, same ? trained.session_key : undefined, null)
    const keyField = serve<string | null>('key_field', w.key_field, same ? trained.key_field : undefined, null)
    const maxLength = serve('max_length', w.max_length, same ? trained.max_length : undefined, WINDOW_DEFAULTS.max_length)
    if (maxLength === null) unlimited.push('max_length')
    if (keyPattern === null && keyField === null) {
      const why = trained.key_from === 'file'
        ? 'the adapter was trained with one session per file: set window.key_field to the record field holding the file (Fluent Bit tail Path_Key)'
        : trained.key_from === 'sequence'
          ? 'the adapter was trained on recorded sessions of template ids: set window.key_pattern or window.key_field to the session id of the live lines'
          : 'set window.key_pattern (a regex over the line) or window.key_field (a record field)'
      invalid(`source "${src.name}": session windows need a key, and neither the config nor the bundle names one; ${why}`)
    }
    let re: RegExp | undefined
    if (keyPattern !== null) {
      try { re = new RegExp(keyPattern) } catch (err) { invalid(`source "${src.name}": window.key_pattern ${JSON.stringify(keyPattern)} (from ${from('key_pattern')}) does not compile: ${(err as Error).message}`) }
    }
    window = { mode, keyPattern: re, keyField: keyField ?? undefined, maxLength: limit(maxLength), ...common }
  }
  return { window, time: w.time, maxLen: known ? Math.min(trained.T, encoderMaxLen) : encoderMaxLen, known, mismatches, origin, unlimited }
}

/** The WINDOW_POLICY_MISMATCH warning text. */
export function mismatchMessage (source: string, adapter: string, m: readonly Mismatch[]): string {
  const keys = m.map(x => `${x.key} trained ${showValue(x.key, x.trained)}, configured ${showValue(x.key, x.configured)}`).join('; ')
  return `source "${source}": the model was not trained on these windows (adapter "${adapter}"): ${keys}. ` +
    'Remove these keys from sources[].window to serve the trained policy, or retrain under the configured one'
}

/** How the windows of a source with limits turned off still close (an info line at start). */
export function unlimitedMessage (source: string, r: ResolvedWindow): string {
  const off = r.unlimited.map(k => `no ${k}`).join(', ')
  const still: string[] = []
  const w = r.window
  if (w.idleMs !== Infinity) still.push(`after ${formatDuration(w.idleMs)} idle`)
  if (w.maxAgeMs !== Infinity) still.push(`${formatDuration(w.maxAgeMs)} after they open`)
  if (w.mode === 'session' && w.maxLength !== Infinity) still.push(`at max_length (${w.maxLength} lines)`)
  if (w.mode === 'sliding') still.push(`when full (${w.size} lines)`)
  still.push(`when max_open (${w.maxOpen}) or limits.max_held_records evicts them, or at a flush (shutdown, POST /v1/flush)`)
  const origin = r.unlimited.every(k => r.origin[k] === 'trained') ? ' (as trained)' : ''
  return `source "${source}": ${off}${origin}; its windows close only ${still.join(', ')}`
}
