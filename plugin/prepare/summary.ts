/**
 * What `prepare` tells the user once the windows are made: keys and how they
 * were split, the T used and why, and the warnings (also written to
 * meta.json `warnings`):
 *
 *   (a) windows longer than T keep their first T lines
 *   (b) more than 10 % of keys split into several windows by the time limits
 *   (c) a split part with no anomalous or no normal window
 *   (d) no event times: time limits recorded as null, line order only
 *   and: a file whose times start before those of the files read before it.
 */
import { type Window } from '../windowing/index.js'
import { type Clock, formatDuration, type WindowPolicy } from './window-policy.js'

/** Share of keys split by the time limits above which (b) warns. */
export const SPLIT_WARN_SHARE = 0.1

export interface KeyStats {
  /** distinct session keys ('' = no key, not counted) */
  keys: number
  /** keys in more than one window */
  split: number
  /** of those, keys with a window closed by idle_timeout or max_age */
  splitByTime: number
}

export function keyStats (windows: readonly Window<number>[]): KeyStats {
  const n = new Map<string, { windows: number, timed: boolean }>()
  for (const w of windows) {
    if (w.key === '') continue
    const s = n.get(w.key)
    const timed = w.reason === 'idle' || w.reason === 'max_age'
    if (s === undefined) n.set(w.key, { windows: 1, timed })
    else { s.windows++; s.timed ||= timed }
  }
  let split = 0
  let splitByTime = 0
  for (const s of n.values()) {
    if (s.windows < 2) continue
    split++
    if (s.timed) splitByTime++
  }
  return { keys: n.size, split, splitByTime }
}

/** T and the reason for it, in words. */
export function chooseT (o: { mode: 'session' | 'sliding', maxLen?: number, size: number, longest: number, cap: number }): { T: number, why: string } {
  if (o.maxLen !== undefined) return { T: o.maxLen, why: '--max-len' }
  if (o.mode === 'sliding') return { T: o.size, why: 'the window size' }
  if (o.longest > o.cap) return { T: o.cap, why: `the longest window (${o.longest} lines) capped at ${o.cap} (use --max-len to choose)` }
  return { T: o.longest, why: 'the longest window' }
}

export interface Part { name: string, windows: number, anomalous: number }

export function warnings (o: {
  T: number
  truncated: number
  keys: KeyStats | undefined
  policy: WindowPolicy
  clock: Clock
  /** time limits were asked for (sessions or sliding windows) */
  timeLimits: boolean
  parts: Part[]
  anomalous: number
  timeGoesBack: { file: string, bySeconds: number }[]
}): string[] {
  const out: string[] = []
  if (o.truncated > 0) out.push(`${o.truncated} window${o.truncated > 1 ? 's are' : ' is'} longer than T=${o.T} and keep${o.truncated > 1 ? '' : 's'} only the first ${o.T} lines (--max-len sets T; the sidecar scores the same first T lines)`)
  const k = o.keys
  if (k !== undefined && k.keys > 0 && k.splitByTime / k.keys > SPLIT_WARN_SHARE) {
    const limits = [o.policy.idleMs !== null ? `idle_timeout ${formatDuration(o.policy.idleMs)}` : '', o.policy.maxAgeMs !== null ? `max_age ${formatDuration(o.policy.maxAgeMs)}` : ''].filter(s => s !== '').join(', ')
    out.push(`${k.splitByTime} of ${k.keys} keys (${(100 * k.splitByTime / k.keys).toFixed(1)} %) were split into several windows by the time limits (${limits}); ` +
      'to keep sessions whole raise --idle-timeout / --max-age (e.g. --idle-timeout 12h --max-age none; --max-length none for long sessions); the sidecar serves the limits recorded here')
  }
  if (o.anomalous === 0) {
    out.push('no window is anomalous (no labels, or none match): the data can train an unsupervised model only, and F1 cannot be measured')
  } else {
    for (const p of o.parts) {
      if (p.windows === 0) continue
      if (p.anomalous === 0) out.push(`the ${p.name} part (${p.windows} windows) holds no anomalous window`)
      else if (p.anomalous === p.windows) out.push(`the ${p.name} part (${p.windows} windows) holds no normal window`)
    }
  }
  if (o.clock === 'none' && o.timeLimits) {
    out.push('no line has an event time: the time limits (idle_timeout, max_age) cannot apply and are recorded as null; ' +
      'line numbers give the chronological order only (add --time-format, --log-format or --time-key if the lines do carry times)')
  }
  for (const g of o.timeGoesBack) {
    out.push(`${g.file} starts ${formatDuration(Math.round(g.bySeconds * 1000))} before the latest time of the files read before it; windows are cut in event time, file after file, so give the files in time order`)
  }
  return out
}
