/**
 * A scored window's verdict under its adapter's decision rule, and the line
 * that explains it (issue 16; models/trainer/decision.py chose the rule on
 * validation). Pure.
 *
 *   model                      score >= threshold
 *   unseen_template            the window holds a template missing from normal_templates
 *   model_or_unseen_template   either
 *
 * Only a window's first T lines count (T = the lines the encoder saw, the
 * trained window length): the trainer decided on exactly those, and only
 * they have a contribution.
 *
 * `top_line` is the line of the window's least common template in normal
 * training windows (absent from the table = 0 = the rarest), the model's
 * contribution breaking ties. Why not the contribution alone: it splits the
 * logit exactly, but the model spreads a window's evidence over the lines
 * that summarise it (on HDFS the session's first line took the largest share
 * in most anomalous windows), while an SRE wants the line a normal window
 * would not have. Measured offline on the HDFS test split with the bundled
 * model: of the 5 anomalous windows holding an exception line, the largest
 * contribution named it in 0, the rarest template in 5, and occlusion (the
 * template whose lines, masked out, lower the model's logit most: the model's
 * own cause, at one extra run per template) in 5 (bench/RESULTS.md). Without a
 * table (adapters from before it): the largest contribution.
 */
import type { DecisionRule } from '../../models/manifest.js'

export interface Line { readonly templateId: string, readonly template: string }
export type TemplateTable = ReadonlyMap<string, number>

/** Whether one of the first `T` lines has a template the table lacks. */
export function holdsUnseen (lines: readonly Line[], T: number, table: TemplateTable): boolean {
  for (let i = 0; i < T; i++) if (!table.has(lines[i].templateId)) return true
  return false
}

export function isAnomalous (rule: DecisionRule, modelSays: boolean, unseen: boolean): boolean {
  switch (rule) {
    case 'model': return modelSays
    case 'unseen_template': return unseen
    case 'model_or_unseen_template': return modelSays || unseen
  }
}

/** Line `a` explains the window better than line `b`: rarer template, then larger contribution. */
function before (lines: readonly Line[], c: Float32Array, table: TemplateTable | undefined, a: number, b: number): boolean {
  if (table !== undefined) {
    const sa = table.get(lines[a].templateId) ?? 0
    const sb = table.get(lines[b].templateId) ?? 0
    if (sa !== sb) return sa < sb
  }
  return c[a] > c[b]
}

/** Index of `top_line` among the first `contribution.length` lines. */
export function topIndex (lines: readonly Line[], contribution: Float32Array, table: TemplateTable | undefined): number {
  let best = 0
  for (let i = 1; i < contribution.length; i++) if (before(lines, contribution, table, i, best)) best = i
  return best
}

/** The first `max` distinct templates of the first T lines in `top_line` order (the summary's `top_templates`). */
export function topTemplates (lines: readonly Line[], contribution: Float32Array, table: TemplateTable | undefined, max = 3): string[] {
  const order = Array.from({ length: contribution.length }, (_, i) => i)
  order.sort((a, b) => before(lines, contribution, table, a, b) ? -1 : before(lines, contribution, table, b, a) ? 1 : a - b)
  const out: string[] = []
  for (const i of order) {
    const t = lines[i].template
    if (!out.includes(t)) out.push(t)
    if (out.length === max) break
  }
  return out
}

/** Texts of the first T lines' templates missing from the table, in window order, at most `max` (the summary's `unseen_templates`). */
export function unseenTemplates (lines: readonly Line[], T: number, table: TemplateTable | undefined, max = 5): string[] {
  const out: string[] = []
  if (table === undefined) return out
  for (let i = 0; i < T && out.length < max; i++) {
    const l = lines[i]
    if (!table.has(l.templateId) && !out.includes(l.template)) out.push(l.template)
  }
  return out
}
