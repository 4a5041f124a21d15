/**
 * The soak receiver's books: every record carries `sid` (its sender) and `seq`
 * (0, 1, 2, … per sender), so "lost" and "duplicated" are exact counts against
 * what each sender says it sent, not estimates from totals.
 *
 *   add(sid, seq) per record received ─▶ counts[sid][seq]++
 *   tally({sid: n sent}) ─▶ lost = seq < n never received, duplicated = receipts beyond the first
 */

export interface Tally {
  /** Records received (every receipt, duplicates included). */
  received: number
  /** Distinct ids received. */
  unique: number
  /** Receipts beyond the first of an id. */
  duplicated: number
  /** Ids sent and never received. */
  lost: number
  /** Receipts of ids no sender reported (bad sid/seq, or seq beyond what the sender says it sent). */
  unexpected: number
  /** A few lost ids, for the report. */
  lostExamples: string[]
}

export class IdLedger {
  /** Per sender: receipts per seq (saturating at 65,535). */
  private readonly counts = new Map<string, Uint16Array>()
  private malformed = 0
  received = 0

  add (sid: unknown, seq: unknown): void {
    if (typeof sid !== 'string' || typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) { this.malformed++; return }
    let a = this.counts.get(sid)
    if (a === undefined || seq >= a.length) {
      const b = new Uint16Array(Math.max(1 << 14, (a?.length ?? 0) * 2, seq + 1))
      if (a !== undefined) b.set(a)
      this.counts.set(sid, b)
      a = b
    }
    if (a[seq] < 0xffff) a[seq]++
    this.received++
  }

  /** Ids below `sent[sid]` not received yet (cheap enough to poll every 100 ms). */
  missing (sent: Record<string, number>): number {
    let n = 0
    for (const [sid, count] of Object.entries(sent)) {
      const a = this.counts.get(sid)
      for (let i = 0; i < count; i++) if (a === undefined || i >= a.length || a[i] === 0) n++
    }
    return n
  }

  tally (sent: Record<string, number>): Tally {
    const t: Tally = { received: this.received, unique: 0, duplicated: 0, lost: 0, unexpected: this.malformed, lostExamples: [] }
    for (const [sid, a] of this.counts) {
      const n = sent[sid] ?? 0
      for (let i = 0; i < a.length; i++) {
        const c = a[i]
        if (c === 0) continue
        if (i >= n) { t.unexpected += c; continue }
        t.unique++
        t.duplicated += c - 1
      }
    }
    for (const [sid, n] of Object.entries(sent)) {
      const a = this.counts.get(sid)
      for (let i = 0; i < n; i++) {
        if (a !== undefined && i < a.length && a[i] > 0) continue
        t.lost++
        if (t.lostExamples.length < 5) t.lostExamples.push(`${sid}:${i}`)
      }
    }
    return t
  }
}
