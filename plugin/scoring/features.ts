/**
 * One log message → what the encoder sees of it: its template (Drain), the
 * template's vector (embedder) and its parameter buckets (Log-Attention).
 * `prepare` (offline) and the sidecar (online) both call this, so the trainer
 * learns from exactly what is served.
 *
 * Drain: `match` first (no learning), `add` only when nothing matches. With a
 * parser restored from the bundle's snapshot, a line of a known template gets
 * the same template as in training; a new kind of line is learned.
 */
import type { Drain, ParseResult } from '../mining/drain.js'
import type { Embedder } from '../embedding/embedder.js'
import { paramBucketList, type ParamBucketOptions } from '../embedding/param-buckets.js'

export interface LineFeatures {
  templateId: string
  template: string
  params: string[]
  /** whether Drain learned something (a new or generalised template) */
  learned: boolean
}

/** Template of `content`: match, else learn. */
export function templateOf (drain: Drain, content: string): { result: ParseResult, learned: boolean } {
  const m = drain.match(content)
  if (m !== null) return { result: m, learned: false }
  return { result: drain.add(content), learned: true }
}

export class Featurizer {
  private readonly vectors = new Map<string, Float32Array>()

  constructor (readonly drain: Drain, readonly embedder: Embedder, readonly params: ParamBucketOptions, private readonly maxCached = 50_000) {}

  get dim (): number { return this.embedder.dim }

  line (content: string): LineFeatures {
    const { result, learned } = templateOf(this.drain, content)
    return { templateId: result.templateId, template: result.template, params: result.params, learned }
  }

  /** The template's vector, cached by template text (a changed template gets a new entry). */
  vector (template: string): Float32Array {
    let v = this.vectors.get(template)
    if (v === undefined) {
      if (this.vectors.size >= this.maxCached) this.vectors.clear()
      v = this.embedder.embed(template)
      this.vectors.set(template, v)
    }
    return v
  }

  /** The bucket ids of a line's first P parameters: what `prepare` writes (`writeParamBuckets`), without its -1 padding. */
  buckets (params: readonly string[]): number[] {
    return paramBucketList(params, this.params)
  }
}
