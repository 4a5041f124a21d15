/**
 * The anomaly fields added to every scored record (DESIGN.md "Output record").
 * Nested under one map (`anomaly: {score, ...}`, the default) or flat
 * (`"anomaly.score": ...`, for pipelines that do not want nested maps); every
 * name can be renamed.
 */
export const FIELD_NAMES = ['score', 'is_anomaly', 'threshold', 'window_id', 'window_size', 'template_id', 'template', 'model', 'adapter', 'top_line'] as const
export type FieldName = typeof FIELD_NAMES[number]

export interface EnrichOptions {
  /** The map (nested) or the prefix (flat). */
  field: string
  flat: boolean
  names: Partial<Record<FieldName, string>>
}

export type AnomalyFields = Record<FieldName, unknown>

export function enrich (record: Record<string, unknown>, fields: AnomalyFields, o: EnrichOptions): Record<string, unknown> {
  const named: Record<string, unknown> = {}
  for (const k of FIELD_NAMES) named[o.names[k] ?? k] = fields[k]
  if (!o.flat) return { ...record, [o.field]: named }
  const out: Record<string, unknown> = { ...record }
  for (const [k, v] of Object.entries(named)) out[`${o.field}.${k}`] = v
  return out
}
