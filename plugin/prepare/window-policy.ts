/**
 * The window policy: one contract between training and serving (issue 16).
 *
 * `prepare` cuts windows with the limits the sidecar serves (idle timeout,
 * max age, max length), in event time: `now` is the line's own timestamp, so
 * a session silent for longer than the idle timeout in the log becomes two
 * windows, as it would live. The policy is written to meta.json `window`; the
 * trainer copies it verbatim into the bundle manifest (`sources[s].window`),
 * and the sidecar serves exactly that policy.
 *
 *   meta.window (session)  session_key, key_field, key_from, clock,
 *                          idle_timeout_ms, max_age_ms, max_length, truncation, closed_at
 *   meta.window (sliding)  size, step, group_by, clock, idle_timeout_ms, max_age_ms, truncation, closed_at
 *
 * null = no limit. The defaults are the sidecar's own (config/schema.ts
 * `sources[].window`), read from the schema so the two cannot drift apart.
 */
import { WINDOW_DEFAULTS, configSchema, duration } from '../../config/schema.js'
import { PrepareError } from './errors.js'

/** Limits in ms / lines; null = no limit. */
export interface WindowPolicy {
  idleMs: number | null
  maxAgeMs: number | null
  /** Sessions only (a sliding window is bounded by its size). */
  maxLength: number | null
}

/** Where a session's key comes from. */
export type KeyFrom = 'pattern' | 'field' | 'file' | 'sequence'

/** 'event': the lines' own times drive the limits; 'none': the data has no times, so time limits could not apply. */
export type Clock = 'event' | 'none'

let defaults: { policy: WindowPolicy, messageKey: string[] } | undefined

/** The sidecar's built-in window limits (config/schema.ts WINDOW_DEFAULTS) and message keys (the schema's default). */
export function sidecarDefaults (): { policy: WindowPolicy, messageKey: string[] } {
  if (defaults === undefined) {
    const src = configSchema.parse({ sources: [{ name: 'prepare', match: '*' }] }).sources[0]
    defaults = {
      policy: { idleMs: WINDOW_DEFAULTS.idle_timeout, maxAgeMs: WINDOW_DEFAULTS.max_age, maxLength: WINDOW_DEFAULTS.max_length },
      messageKey: [...src.message_key],
    }
  }
  return defaults
}

/** `--idle-timeout 30s` / `none`: ms (> 0) or null. Units as in the config: ms, s, m, h. */
export function parseDurationOption (name: string, v: string): number | null {
  if (v.trim().toLowerCase() === 'none') return null
  const r = duration().safeParse(v)
  if (!r.success || !(r.data > 0)) {
    throw new PrepareError('PREPARE_USAGE', `--${name} must be a duration > 0 (500ms, 30s, 5m, 12h) or none, got ${JSON.stringify(v)}`)
  }
  return r.data
}

/** `--max-length 256` / `none`. */
export function parseCountOption (name: string, v: string): number | null {
  if (v.trim().toLowerCase() === 'none') return null
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1) throw new PrepareError('PREPARE_USAGE', `--${name} must be an integer >= 1 or none, got ${JSON.stringify(v)}`)
  return n
}

/** null (no limit) as the windowers take it. */
export const limit = (v: number | null): number => v ?? Infinity

/** 30000 -> "30 s", 90000 -> "1.5 min", 43200000 -> "12 h". */
export function formatDuration (ms: number): string {
  for (const [unit, n] of [['h', 3_600_000], ['min', 60_000], ['s', 1000]] as const) {
    if (ms >= n) return `${Number((ms / n).toFixed(3))} ${unit}`
  }
  return `${ms} ms`
}

const or = (parts: string[]): string => parts.length <= 1 ? parts.join('') : `${parts.slice(0, -1).join(', ')} or ${parts[parts.length - 1]}`

/** The policy as one readable sentence (meta.window.closed_at, and the printed summary). */
export function describePolicy (mode: 'session' | 'sliding', p: WindowPolicy, clock: Clock, sliding?: { size: number, step: number }): string {
  const time: string[] = []
  if (clock === 'event') {
    if (p.idleMs !== null) time.push(`after ${formatDuration(p.idleMs)} without a line (idle_timeout)`)
    if (p.maxAgeMs !== null) time.push(mode === 'session' ? `${formatDuration(p.maxAgeMs)} after its first line (max_age)` : `once its oldest line has waited ${formatDuration(p.maxAgeMs)} (max_age)`)
  }
  const clockNote = clock === 'event' ? ', in event time (the lines\' own timestamps)' : '; the data has no event times, so no time limit applies'
  if (mode === 'sliding') {
    const s = sliding!
    const full = `a window closes when it holds ${s.size} lines (the next starts ${s.step} lines later)`
    const partial = time.length > 0 ? `; a partial window closes ${or(time)}` : ''
    return `${full}${partial}${clockNote}; what is left closes at the end of the input`
  }
  const all = [...time]
  if (p.maxLength !== null) all.push(`at ${p.maxLength} lines (max_length)`)
  if (all.length === 0) return `a session closes only at the end of the input (no limit)${clock === 'none' ? '; the data has no event times' : ''}`
  return `a session closes ${or(all)}${all.length > 1 ? ', whichever comes first' : ''}${clockNote}; sessions still open close at the end of the input`
}

export interface SessionWindowMeta {
  session_key: string | null
  key_field: string | null
  key_from: KeyFrom
  clock: Clock
  idle_timeout_ms: number | null
  max_age_ms: number | null
  max_length: number | null
  truncation: 'first T lines'
  closed_at: string
}

export interface SlidingWindowMeta {
  size: number
  step: number
  group_by: null
  clock: Clock
  idle_timeout_ms: number | null
  max_age_ms: number | null
  truncation: 'first T lines'
  closed_at: string
}

/** meta.json `window`: time limits are recorded as null when the clock is 'none' (they could not apply). */
export function windowMeta (o: {
  mode: 'session' | 'sliding'
  policy: WindowPolicy
  clock: Clock
  sessionKey?: string | null
  keyField?: string | null
  keyFrom?: KeyFrom
  size?: number
  step?: number
}): SessionWindowMeta | SlidingWindowMeta {
  const timed = o.clock === 'event'
  const idle = timed ? o.policy.idleMs : null
  const age = timed ? o.policy.maxAgeMs : null
  if (o.mode === 'sliding') {
    return {
      size: o.size!, step: o.step!, group_by: null, clock: o.clock, idle_timeout_ms: idle, max_age_ms: age,
      truncation: 'first T lines', closed_at: describePolicy('sliding', o.policy, o.clock, { size: o.size!, step: o.step! }),
    }
  }
  return {
    session_key: o.sessionKey ?? null, key_field: o.keyField ?? null, key_from: o.keyFrom!, clock: o.clock,
    idle_timeout_ms: idle, max_age_ms: age, max_length: o.policy.maxLength,
    truncation: 'first T lines', closed_at: describePolicy('session', o.policy, o.clock),
  }
}

/**
 * The window limits a bundle's source was trained with (manifest `sources[s].window`), as prepare options:
 * what to prepare new data with so that `eval` scores the windows the sidecar serves. A manifest written
 * before the policy was recorded (no `idle_timeout_ms`) was prepared with no limits at all.
 */
export function trainedPolicy (window: Record<string, unknown>): { idleTimeout: number | null, maxAge: number | null, maxLength: number | null } {
  if (!('idle_timeout_ms' in window)) return { idleTimeout: null, maxAge: null, maxLength: null }
  const num = (v: unknown): number | null => typeof v === 'number' ? v : null
  return { idleTimeout: num(window.idle_timeout_ms), maxAge: num(window.max_age_ms), maxLength: num(window.max_length) }
}

/**
 * prepare options that cut and hash new data the way a bundle's source was trained on it: its window
 * limits and its Log-Attention buckets (manifest `sources[s]`), e.g. to `eval` a bundle on another log.
 */
export function preparedLike (source: { window: Record<string, unknown>, params: { buckets: number, max_params: number } }): {
  idleTimeout: number | null, maxAge: number | null, maxLength: number | null, paramBuckets: number, maxParams: number
} {
  return { ...trainedPolicy(source.window), paramBuckets: source.params.buckets, maxParams: source.params.max_params }
}
