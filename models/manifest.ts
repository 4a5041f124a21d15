/**
 * Schemas of a bundle's manifest.json and adapters/<source>.json (DESIGN.md,
 * "Model bundle"). models/trainer/bundle.py writes them; keep both in step.
 * Unknown keys are kept (a newer trainer may add informative fields);
 * `format_version` guards breaking changes.
 */
import { z } from 'zod'

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256')
const posInt = z.number().int().positive()
const dim = z.union([posInt, z.string().min(1)])
const io = z.object({ dtype: z.enum(['float32', 'int32', 'int64', 'bool']), shape: z.array(dim), meaning: z.string().optional() })
/** A relative path inside the bundle: no absolute paths, no `..`. */
const inBundle = z.string().min(1).refine(p => !p.startsWith('/') && !p.split(/[\\/]/).includes('..'), 'a path inside the bundle')

export const sourceNameRe = /^[a-z0-9][a-z0-9_-]{0,63}$/

const validationMetrics = z.object({
  precision: z.number(),
  recall: z.number(),
  f1: z.number(),
  roc_auc: z.number().nullable(),
  threshold: z.number(),
  windows: z.number().int(),
  anomalous: z.number().int(),
})

export const SourceTensorSpec = z.object({ name: z.string().min(1), dtype: z.literal('float32'), shape: z.array(posInt) })

export const ManifestSchema = z.object({
  format_version: z.literal(1),
  created: z.string(),
  embedder: z.object({
    kind: z.string().min(1),
    dimension: posInt,
    files: z.array(inBundle).min(1),
    sha256,
  }),
  encoder: z.object({
    file: inBundle,
    sha256,
    opset: posInt,
    d_model: posInt,
    layers: posInt,
    heads: posInt,
    ffn: posInt,
    adapter_size: posInt,
    max_len: posInt,
    log_attention: z.object({ enabled: z.boolean(), buckets: posInt, max_params: posInt, param_hash: z.string().nullable().optional() }),
    inputs: z.object({ embeddings: io, mask: io, param_buckets: io }),
    outputs: z.object({ score: io, contribution: io }),
    source_tensors: z.array(SourceTensorSpec).min(1),
  }),
  sources: z.record(z.string().regex(sourceNameRe, 'a source name: lowercase letters, digits, - and _'), z.object({
    adapter: inBundle,
    metadata: inBundle,
    threshold: z.number().min(0).max(1),
    metrics: z.object({ validation: validationMetrics }),
    window: z.object({ mode: z.enum(['session', 'sliding']), T: posInt }).loose(),
    parser: z.object({ preset: z.string().nullable(), options: z.unknown(), snapshot: inBundle.nullable() }),
    params: z.object({ buckets: posInt, max_params: posInt }).loose(),
  }).loose()),
}).loose()

export type Manifest = z.infer<typeof ManifestSchema>

export const AdapterMetaSchema = z.object({
  format_version: z.literal(1),
  source: z.string().regex(sourceNameRe),
  created: z.string(),
  encoder_sha256: sha256,
  threshold: z.number().min(0).max(1),
  metrics: z.object({ validation: validationMetrics }).loose(),
  training: z.object({ mode: z.string(), trainable_params: z.number().int(), total_params: z.number().int() }).loose(),
  data: z.object({ prepared_dir: z.string(), split: z.unknown() }).loose(),
}).loose()

export type AdapterMeta = z.infer<typeof AdapterMetaSchema>

/** "key.path: message" for every issue, one per line. */
export function formatIssues (err: z.ZodError): string {
  return err.issues.map(i => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n')
}
