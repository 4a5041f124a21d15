/**
 * `Counters` (plugin/events.ts) → prom-client, at scrape time.
 *
 * `Counters.inc` runs per record on hot paths, so it stays a map update; the
 * bridge reads every series once per scrape (`refresh`), declares a
 * prom-client Counter or Gauge per name the first time it appears (HELP and
 * TYPE from the catalog), and each metric's `collect()` copies that scrape's
 * values in. Series the catalog marks `zero` are added at 0 until their first
 * event.
 */
import { Counter, Gauge, type Registry } from 'prom-client'
import { seriesKey, type Counters, type Labels } from '../events.js'
import { CATALOG, PREFIX, specOf } from './catalog.js'

type Series = Array<[Labels, number]>

const ZERO_NAMES = Object.keys(CATALOG).filter(n => CATALOG[n].zero !== undefined)

/** `name{k="v",...}` (the key `Counters` keeps) → name and labels. */
function parseKey (key: string): { name: string, labels: Labels } {
  const brace = key.indexOf('{')
  if (brace < 0) return { name: key, labels: {} }
  const labels: Record<string, string> = {}
  for (const m of key.slice(brace + 1, -1).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[m[1]] = m[2]
  return { name: key.slice(0, brace), labels }
}

export class CountersBridge {
  private readonly parsed = new Map<string, { name: string, labels: Labels }>()
  /** Declared names → their label names. */
  private readonly declared = new Map<string, readonly string[]>()
  /** Names that are not ours to declare (prom-client's default metrics, the native ones) or that prom-client refused. */
  private readonly skip: Set<string>
  private current = new Map<string, Series>()

  /**
   * @param reserved full metric names exported elsewhere: a `Counters` series
   *   of that name is left out rather than written twice.
   * @param sources scored source names, for the catalog's per-source zeros.
   */
  constructor (private readonly counters: Counters, private readonly registry: Registry, reserved: Iterable<string>, private readonly sources: readonly string[]) {
    this.skip = new Set(reserved)
  }

  /** Read every series once and declare what is new; call before `registry.metrics()`. */
  refresh (): void {
    const snapshot = this.counters.snapshot()
    const groups = new Map<string, Series>()
    for (const key in snapshot) {
      let p = this.parsed.get(key)
      if (p === undefined) { p = parseKey(key); this.parsed.set(key, p) }
      let g = groups.get(p.name)
      if (g === undefined) { g = []; groups.set(p.name, g) }
      g.push([p.labels, snapshot[key]])
    }
    for (const [name, zeros] of this.zeros()) {
      if (zeros.length === 0) continue
      let g = groups.get(name)
      if (g === undefined) { g = []; groups.set(name, g) }
      for (const labels of zeros) if (!(seriesKey(name, labels) in snapshot)) g.push([labels, 0])
    }
    this.current = groups
    for (const [name, series] of groups) this.declare(name, series)
  }

  private * zeros (): Generator<[string, readonly Labels[]]> {
    for (const name of ZERO_NAMES) {
      const z = specOf(name).zero
      if (z === 'sources') yield [name, this.sources.map(source => ({ source }))]
      else if (z !== undefined) yield [name, z]
    }
  }

  private declare (name: string, series: Series): void {
    const full = PREFIX + name
    if (this.skip.has(full)) return
    const spec = specOf(name)
    const labelNames = new Set(spec.labels ?? [])
    for (const [labels] of series) for (const k in labels) labelNames.add(k)
    const had = this.declared.get(name)
    if (had !== undefined && [...labelNames].every(l => had.includes(l))) return
    if (had !== undefined) this.registry.removeSingleMetric(full) // a label no earlier series had: declare it again
    else if (this.registry.getSingleMetric(full) !== undefined) { this.skip.add(full); return } // a native metric of that name wins
    const bridge = this
    const config = { name: full, help: spec.help, labelNames: [...labelNames], registers: [this.registry] }
    try {
      if (spec.type === 'counter') new Counter({ ...config, collect () { this.reset(); for (const [l, v] of bridge.current.get(name) ?? []) if (v >= 0) this.inc(l, v) } })
      else new Gauge({ ...config, collect () { this.reset(); for (const [l, v] of bridge.current.get(name) ?? []) this.set(l, v) } })
      this.declared.set(name, config.labelNames)
    } catch {
      // a name or label prom-client refuses: left out rather than failing the whole scrape
      this.declared.delete(name)
      this.skip.add(full)
    }
  }
}
