/**
 * A tiny progress reporter for long offline steps (no dependency).
 * On a terminal: one self-overwriting bar line, redrawn at most every 100 ms.
 * Otherwise (CI logs, pipes): a plain line when a phase starts, at every
 * 25% of it, and when it ends, so logs stay short and greppable.
 */
export interface Progress {
  /** Start a phase; `total` in whatever unit `update` reports (bytes, windows), 0 when unknown. */
  phase (name: string, total?: number): void
  update (done: number): void
  /** End the phase with a summary (e.g. "222579 lines in 1.2 s"). */
  done (summary?: string): void
  /** A one-off message line. */
  log (message: string): void
}

export interface ProgressSink {
  write (s: string): unknown
  isTTY?: boolean
  columns?: number
}

export function createProgress (sink: ProgressSink = process.stderr, opts: { quiet?: boolean, prefix?: string } = {}): Progress {
  const prefix = opts.prefix ?? 'prepare'
  if (opts.quiet === true) return { phase () {}, update () {}, done () {}, log () {} }
  const tty = sink.isTTY === true
  let name = ''
  let total = 0
  let started = 0
  let lastDraw = 0
  let lastQuarter = -1
  const draw = (done: number): void => {
    const frac = total > 0 ? Math.min(1, done / total) : 0
    const width = Math.max(10, Math.min(30, (sink.columns ?? 80) - name.length - prefix.length - 20))
    const fill = Math.round(frac * width)
    sink.write(`\r${prefix} ${name} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}%`)
  }
  return {
    phase (n, t = 0) {
      name = n
      total = t
      started = performance.now()
      lastDraw = 0
      lastQuarter = 0
      if (tty) draw(0)
      else sink.write(`${prefix}: ${name}...\n`)
    },
    update (done) {
      if (total <= 0) return
      if (tty) {
        const now = performance.now()
        if (now - lastDraw >= 100) { lastDraw = now; draw(done) }
        return
      }
      const q = Math.floor((4 * done) / total)
      if (q > lastQuarter && q < 4) {
        lastQuarter = q
        sink.write(`${prefix}: ${name} ${q * 25}%\n`)
      }
    },
    done (summary) {
      const s = ((performance.now() - started) / 1000).toFixed(2)
      const text = `${prefix}: ${name} done in ${s} s${summary !== undefined ? ` (${summary})` : ''}`
      sink.write(tty ? `\r${text}\x1b[K\n` : `${text}\n`)
    },
    log (message) {
      sink.write(tty ? `\r${prefix}: ${message}\x1b[K\n` : `${prefix}: ${message}\n`)
    },
  }
}
