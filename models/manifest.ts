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

/** A regex source that compiles. */
const regexSource = z.string().min(1).refine(p => { try { new RegExp(p); return true } catch { return false } }, 'a regular expression that compiles')
/** ms > 0, or null: no limit. */
const limitMs = z.number().positive().nullable()

/**
 * The window policy a source was trained with (issue 16): `prepare` writes it
 * to meta.json `window`, the trainer copies it here beside format, mode and T,
 * and the sidecar serves it (plugin/scoring/window-policy.ts). null = no limit.
 * Bundles written before the policy was recorded have only mode, T and
 * session_key or size / step: every key but those two is optional, and a key
 * left out means "not recorded" (the sidecar then uses its built-in default).
 */
const windowPolicy = z.object({
  mode: z.enum(['session', 'sliding']),
  T: posInt,
  session_key: regexSource.nullable().optional(),
  key_field: z.string().min(1).nullable().optional(),
  key_from: z.enum(['pattern', 'field', 'file', 'sequence']).optional(),
  size: posInt.optional(),
  step: posInt.optional(),
  group_by: z.string().min(1).nullable().optional(),
  /** event: the limits ran on the lines' own times; none: the data had no times (no time limit applied). */
  clock: z.enum(['event', 'none']).optional(),
  idle_timeout_ms: limitMs.optional(),
  max_age_ms: limitMs.optional(),
  max_length: posInt.nullable().optional(),
  truncation: z.string().optional(),
  closed_at: z.string().optional(),
}).loose().refine(w => w.step === undefined || w.size === undefined || w.step <= w.size, { message: 'step must be at most size', path: ['step'] })

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
    window: windowPolicy,
    parser: z.object({ preset: z.string().nullable(), options: z.unknown(), snapshot: inBundle.nullable() }),
    params: z.object({ buckets: posInt, max_params: posInt }).loose(),
  }).loose()),
}).loose()

export type Manifest = z.infer<typeof ManifestSchema>

/**
 * What `anomaly.is_anomaly` means for a source (issue 16; models/trainer/decision.py
 * chooses it on validation): `model` score >= threshold; `unseen_template` the
 * window holds a template missing from `normal_templates`; or either.
 */
export const DECISION_RULES = ['model', 'unseen_template', 'model_or_unseen_template'] as const
export type DecisionRule = typeof DECISION_RULES[number]

const confusion = z.object({ precision: z.number(), recall: z.number(), f1: z.number(), tp: z.number().int(), fp: z.number().int(), fn: z.number().int() }).loose()

const decision = z.object({
  rule: z.enum(DECISION_RULES),
  chosen_on: z.string().optional(),
  /** Each rule's figures on the validation split, as the trainer chose among them. */
  validation: z.record(z.string(), confusion).optional(),
}).loose()

export const AdapterMetaSchema = z.object({
  format_version: z.literal(1),
  source: z.string().regex(sourceNameRe),
  created: z.string(),
  encoder_sha256: sha256,
  threshold: z.number().min(0).max(1),
  metrics: z.object({ validation: validationMetrics }).loose(),
  training: z.object({ mode: z.string(), trainable_params: z.number().int(), total_params: z.number().int() }).loose(),
  data: z.object({ prepared_dir: z.string(), split: z.unknown() }).loose(),
  /** Absent (adapters from before issue 16): rule `model`. */
  decision: decision.optional(),
  /** Template id (as the sidecar's parser gives it) -> share of the normal training windows holding it. Absent: no table. */
  normal_templates: z.record(z.string().min(1), z.number().min(0).max(1)).optional(),
}).loose().refine(m => (m.decision?.rule ?? 'model') === 'model' || m.normal_templates !== undefined, {
  message: 'a decision rule on unseen templates needs normal_templates', path: ['decision', 'rule'],
})

export type AdapterMeta = z.infer<typeof AdapterMetaSchema>

/** "key.path: message" for every issue, one per line. */
export function formatIssues (err: z.ZodError): string {
  return err.issues.map(i => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n')
}
