/**
 * What `prepare` writes into --out (DESIGN.md "Prepared data"):
 *
 *   templates.jsonl          {"row", "id", "text", "count"} per template; row = index used in windows.npy
 *   template_vectors.npy     [K, D] float32, unit rows (embedder.ts)
 *   windows.npy              [N, T] int32, template row per line, -1 = pad
 *   param_buckets.npy        [N, T, P] int32, parameter bucket ids, -1 = pad
 *   labels.npy               [N] uint8, 1 = anomalous window
 *   start_times.npy          [N] float64, epoch seconds of the window's first line
 *   window_info.jsonl        per window row: {"key" (session key, '' for sliding), "file" (input file of
 *                            first_line), "first_line", "last_line" (1-based line numbers in their file;
 *                            "last_file" when that is another file), "size" (lines before truncation to T)}
 *   embedder.safetensors     the embedder that made template_vectors (file-format.ts)
 *   meta.json                settings, counts, split ranges, drain preset, embedder sha256
 *   drain.json               the Drain parser state after both passes (plugin/mining/snapshot.ts);
 *                            none for --format sequences (meta.drain.snapshot null)
 *
 * Rows of every [N, ...] array are in the same order: the split's (split.ts).
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type Embedder, embedderFromBytes } from '../embedding/embedder.js'
import { distillEmbedder } from '../embedding/distill.js'
import { PrepareError } from './errors.js'
import { writeNpy, type NpyData } from './npy.js'
import { type Progress } from './progress.js'
import { type SessionWindowMeta, type SlidingWindowMeta } from './window-policy.js'

export const EMBEDDER_FILE = 'embedder.safetensors'

export interface EmbedderInfo {
  file: string
  sha256: string
  dim: number
  vocab: number
  /** 'distilled' from this run's training templates, or 'given' (--embedder). */
  origin: 'distilled' | 'given'
  given_path: string | null
  source: string
  idf_weighting: string
  idf_docs: number
  distill_ms: number | null
}

export interface PrepareMeta {
  format_version: 1
  source: {
    input: 'lines' | 'ndjson' | 'sequences'
    /** every file read, in order (folders expanded) */
    logs: string[]
    labels: string | null
    labels_by: string | null
    /** --normal-label values, or null: the strict Normal/Anomaly/0/1 table */
    normal_labels: string[] | null
    /** ndjson: record fields read */
    message_key?: string[]
    time_key?: string[]
    /** sequences: files whose every session is anomalous, and the templates file */
    anomalous_logs?: string[]
    templates?: string
  }
  format: string
  mode: 'session' | 'sliding'
  /** the window policy the sidecar serves (window-policy.ts) */
  window: SessionWindowMeta | SlidingWindowMeta
  T: number
  P: number
  buckets: number
  param_hash: string
  counts: PrepareCounts
  split: {
    method: string
    seed: number | null
    test_fraction: number
    val_fraction: number
    order: string
    train: SplitPart
    validation: SplitPart
    test: SplitPart
  }
  /** snapshot null: no parser (--format sequences) */
  drain: { preset: string | null, options: unknown, snapshot: string | null }
  embedder: EmbedderInfo
  files: Record<string, { dtype: string, shape: number[] }>
  /** what the summary warned about, word for word */
  warnings: string[]
}

/** meta.json `counts`: these always, plus format-specific ones (header_mismatch, lines_without_time, events, ...). */
export interface PrepareCounts {
  /** log lines kept (sequences: sequence lines read) */
  lines: number
  templates: number
  windows: number
  anomalous_windows: number
  unlabeled_windows: number
  truncated_windows: number
  longest_window: number
  /** distinct session keys (0 for sliding windows) */
  keys: number
  /** keys that ended up in more than one window (cut by the limits) */
  keys_split: number
  /** windows by how they closed (the windowers' stats().closed; `sequence` for --format sequences) */
  closed: Record<string, number>
  [count: string]: number | Record<string, number>
}

export interface WindowInfo {
  key: string
  /** the input file of first_line (path as given, or folder + name) */
  file: string
  first_line: number
  last_line: number
  size: number
  /** only when last_line is in another file than first_line */
  last_file?: string
}

export interface SplitPart { start: number, end: number, windows: number, anomalous: number }

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

export async function buildEmbedder (o: {
  given?: string
  topWords?: number
  ngramBuckets?: number
  trainTemplates: string[]
  createdFrom: string
  progress: Progress
}): Promise<{ embedder: Embedder, bytes: Uint8Array, meta: EmbedderInfo }> {
  if (o.given !== undefined) {
    let bytes: Uint8Array
    let embedder: Embedder
    try {
      bytes = await readFile(o.given)
      embedder = embedderFromBytes(bytes, o.given)
    } catch (err) {
      throw new PrepareError('PREPARE_EMBEDDER', `--embedder ${o.given}: ${(err as Error).message}`, { cause: err })
    }
    return { embedder, bytes, meta: info(embedder, bytes, 'given', o.given, null) }
  }
  o.progress.phase(`distill embedder (${o.trainTemplates.length} training templates + pretrained vectors)`)
  let r
  try {
    r = await distillEmbedder({ templates: o.trainTemplates, createdFrom: o.createdFrom, topWords: o.topWords, ngramBuckets: o.ngramBuckets })
  } catch (err) {
    throw new PrepareError('PREPARE_EMBEDDER', `distilling the embedder failed: ${(err as Error).message}`, { cause: err })
  }
  o.progress.done(`${r.stats.vocab} words, ${r.stats.trainingWordsFallback} of ${r.stats.trainingWords} training words by fallback, ${(r.bytes.length / 1e6).toFixed(1)} MB`)
  return { embedder: r.embedder, bytes: r.bytes, meta: info(r.embedder, r.bytes, 'distilled', null, r.stats.ms) }
}

function info (e: Embedder, bytes: Uint8Array, origin: 'distilled' | 'given', given: string | null, ms: number | null): EmbedderInfo {
  return {
    file: EMBEDDER_FILE,
    sha256: sha256(bytes),
    dim: e.dim,
    vocab: e.vocab.length,
    origin,
    given_path: given,
    source: e.meta.source,
    idf_weighting: e.meta.idfWeighting,
    idf_docs: e.meta.idfDocs,
    distill_ms: ms === null ? null : Math.round(ms),
  }
}

interface Arr { data: NpyData, shape: number[] }

export async function writeOutput (dir: string, meta: PrepareMeta, o: {
  templates: { id: string, text: string, count: number }[]
  vectors: Arr
  windows: Arr
  buckets: Arr
  labels: Arr
  starts: Arr
  info: WindowInfo[]
  embedderBytes: Uint8Array
}): Promise<void> {
  await mkdir(dir, { recursive: true })
  const arrays: Record<string, Arr> = {
    'template_vectors.npy': o.vectors,
    'windows.npy': o.windows,
    'param_buckets.npy': o.buckets,
    'labels.npy': o.labels,
    'start_times.npy': o.starts,
  }
  for (const [name, a] of Object.entries(arrays)) {
    await writeNpy(join(dir, name), a.data, a.shape)
    meta.files[name] = { dtype: dtypeName(a.data), shape: a.shape }
  }
  const jsonl = o.templates.map((t, row) => JSON.stringify({ row, id: t.id, text: t.text, count: t.count })).join('\n')
  await writeFile(join(dir, 'templates.jsonl'), jsonl + '\n')
  await writeFile(join(dir, 'window_info.jsonl'), o.info.map(w => JSON.stringify(w)).join('\n') + '\n')
  await writeFile(join(dir, EMBEDDER_FILE), o.embedderBytes)
  await writeFile(join(dir, 'meta.json'), JSON.stringify(meta, null, 2) + '\n')
}

function dtypeName (d: NpyData): string {
  if (d instanceof Float32Array) return 'float32'
  if (d instanceof Int32Array) return 'int32'
  if (d instanceof Float64Array) return 'float64'
  return 'uint8'
}
