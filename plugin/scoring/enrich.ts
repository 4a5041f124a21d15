/**
 * The anomaly fields added to every scored record (DESIGN.md "Output record").
 * Nested under one map (`anomaly: {score, ...}`, the default) or flat
 * (`"anomaly.score": ...`, for pipelines that do not want nested maps); every
 * name can be renamed.
 */
import { encode } from '../forward/codec.js'
import { mapHeader, type Enrichment } from '../pipeline/enrichment.js'
import { readMapHeader } from '../forward/msgpack-frame.js'

export const FIELD_NAMES = ['score', 'is_anomaly', 'threshold', 'window_id', 'window_size', 'template_id', 'template', 'new_template', 'model', 'adapter', 'top_line'] as const
export type FieldName = typeof FIELD_NAMES[number]

export interface EnrichOptions {
  /** The map (nested) or the prefix (flat). */
  field: string
  flat: boolean
  names: Partial<Record<FieldName, string>>
}

export type AnomalyFields = Record<FieldName, unknown>

/** The fields that are the same for every line of a window. */
export type WindowFields = Omit<AnomalyFields, 'template_id' | 'template' | 'new_template'>

/** A window's pre-encoded pairs, before and after the per-template ones. */
export interface WindowPairs { before: Uint8Array, after: Uint8Array }

const BEFORE = ['score', 'is_anomaly', 'threshold', 'window_id', 'window_size'] as const
const TEMPLATE = ['template_id', 'template', 'new_template'] as const
const AFTER = ['model', 'adapter', 'top_line'] as const

/**
 * The anomaly fields, in FIELD_NAMES order and with their configured names,
 * as msgpack bytes (plugin/pipeline/enrichment.ts): encoded once per window
 * and once per template, shared by every record that gets them. The template
 * part is cached with `new_template: false`, what nearly every record carries;
 * the first line of a new template (once per template) gets its own bytes.
 */
export class EnrichmentEncoder {
  readonly keys: readonly string[]
  private readonly head: Uint8Array
  /** Per template id: its text when encoded, and the bytes (the text is checked too: a cache keyed by id alone must not serve stale text). */
  private readonly templates = new Map<string, { template: string, bytes: Uint8Array }>()

  constructor (private readonly o: EnrichOptions, private readonly maxTemplates = 10_000) {
    const names = FIELD_NAMES.map(k => this.key(k))
    if (new Set(names).size !== names.length) throw new Error(`enrich.names gives two fields the same name: ${names.join(', ')}`)
    this.keys = o.flat ? names : [o.field]
    this.head = o.flat ? new Uint8Array(0) : Buffer.concat([pairsOf({ [o.field]: 0 }).subarray(0, -1), mapHeader(FIELD_NAMES.length)])
  }

  private key (k: FieldName): string {
    const name = this.o.names[k] ?? k
    return this.o.flat ? `${this.o.field}.${name}` : name
  }

  private pairs (names: readonly FieldName[], fields: Partial<AnomalyFields>): Uint8Array {
    const obj: Record<string, unknown> = {}
    for (const k of names) obj[this.key(k)] = fields[k]
    return pairsOf(obj)
  }

  window (f: WindowFields): WindowPairs {
    return { before: this.pairs(BEFORE, f), after: this.pairs(AFTER, f) }
  }

  record (w: WindowPairs, templateId: string, template: string, newTemplate = false): Enrichment {
    if (newTemplate) {
      const bytes = new Uint8Array(this.pairs(TEMPLATE, { template_id: templateId, template, new_template: true }))
      return { keys: this.keys, parts: [this.head, w.before, bytes, w.after] }
    }
    // keyed by id alone, not by id + text: a key built per record would be a new string to hash each time
    let t = this.templates.get(templateId)
    if (t === undefined || t.template !== template) {
      if (t === undefined && this.templates.size >= this.maxTemplates) this.templates.clear()
      // a copy: msgpackr's result is a view of its working buffer (often far larger), which a cache entry would keep alive
      t = { template, bytes: new Uint8Array(this.pairs(TEMPLATE, { template_id: templateId, template, new_template: false })) }
      this.templates.set(templateId, t)
    }
    return { keys: this.keys, parts: [this.head, w.before, t.bytes, w.after] }
  }
}

/** An object's key/value pairs as msgpack, without the map header. */
function pairsOf (obj: Record<string, unknown>): Uint8Array {
  const packed = encode(obj)
  return packed.subarray(readMapHeader(packed, 0).head)
}
