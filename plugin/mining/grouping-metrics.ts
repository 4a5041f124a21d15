/**
 * Grouping accuracy of a log parser, as in the Loghub / Loghub-2.0 benchmarks.
 *
 * GA: a line counts as correct iff the set of lines in its predicted group equals
 * the set of lines in its ground-truth group; GA = correct lines / all lines.
 * FGA (Jiang et al., ISSTA'24): a predicted group is correct iff it equals a
 * ground-truth group; precision = correct groups / predicted groups, recall =
 * correct groups / ground-truth groups, FGA = their harmonic mean.
 */
export interface GroupingScore {
  lines: number
  ga: number
  fga: number
  precision: number
  recall: number
  truthGroups: number
  predictedGroups: number
}

export function groupingAccuracy(truth: readonly string[], predicted: readonly string[]): GroupingScore {
  if (truth.length !== predicted.length) throw new RangeError(`length mismatch: ${truth.length} truth, ${predicted.length} predicted`)
  const truthSize = new Map<string, number>()
  for (const t of truth) truthSize.set(t, (truthSize.get(t) ?? 0) + 1)
  // predicted group -> the truth label of its lines, or null once two differ
  const pred = new Map<string, { label: string | null; n: number }>()
  for (let i = 0; i < predicted.length; i++) {
    const g = pred.get(predicted[i]!)
    if (g === undefined) pred.set(predicted[i]!, { label: truth[i]!, n: 1 })
    else {
      g.n++
      if (g.label !== truth[i]) g.label = null
    }
  }
  let correctLines = 0
  let correctGroups = 0
  for (const g of pred.values()) {
    if (g.label !== null && truthSize.get(g.label) === g.n) {
      correctLines += g.n
      correctGroups++
    }
  }
  const precision = pred.size === 0 ? 0 : correctGroups / pred.size
  const recall = truthSize.size === 0 ? 0 : correctGroups / truthSize.size
  return {
    lines: truth.length,
    ga: truth.length === 0 ? 0 : correctLines / truth.length,
    fga: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    precision,
    recall,
    truthGroups: truthSize.size,
    predictedGroups: pred.size,
  }
}
