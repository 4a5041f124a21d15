/**
 * Distillation: pretrained word vectors + training templates -> the compact
 * embedder file (file-format.ts) that ships in a model bundle.
 *
 * - Vocabulary: the first `topWords` words of the pretrained package that the
 *   tokenizer can emit as one token (the package is frequency-ordered, GloVe
 *   style: "the", "of", "to", ...), then every word of the training templates
 *   not among them. Vectors are stored unit length, fp16.
 * - A training word the package does not know (`xceiver`, `namesystem`) gets
 *   the fallback vector (embedder.ts rules 2-3) computed once here from the
 *   compact tables, i.e. exactly the vector the sidecar would compute for it.
 * - IDF over distinct templates, not lines: idf(w) = ln((1+K)/(1+df(w))) + 1,
 *   K = number of distinct training templates, df = templates containing w.
 *   Weighting by line counts would let the one template that is 40% of HDFS
 *   decide which words matter; a template is one event type, so each counts
 *   once. A word in no training template weighs ln(1+K)+1 (rare = telling).
 * - N-gram table: for the first `ngramWords` single-token words of the
 *   package, each unit vector is added to the row of every distinct n-gram of
 *   the word (FNV-1a mod `ngramBuckets`); each row is then the mean, centred
 *   by subtracting the mean of all rows (otherwise every fallback vector
 *   points along the common direction of the word vectors and unknown words
 *   all look alike). A row no word reached gets a fixed pseudo-random vector.
 */
import { Embedder, charNgrams, normalise } from './embedder.js'
import { EMBEDDER_FORMAT, EMBEDDER_VERSION, encodeEmbedderFile, type EmbedderMeta } from './file-format.js'
import { encodeHalfArray, roundTripHalf } from './fp16.js'
import { fnv1a32 } from './hash.js'
import { tokenize, TOKENIZER_VERSION } from './tokenize.js'
import { readWinkVectors, type WinkVectors } from './wink-reader.js'

export interface DistillOptions {
  /** Distinct training template texts (IDF documents, vocabulary source). */
  templates: readonly string[]
  /** Most frequent pretrained words kept besides the training words. Default 20,000. */
  topWords?: number
  /** Pretrained words that feed the n-gram table. Default 100,000. */
  ngramWords?: number
  /** Rows of the n-gram table. Default 16,384 (fp16: 3.3 MB at D=100). */
  ngramBuckets?: number
  ngramMin?: number
  ngramMax?: number
  /** Free text recorded in the file (what data it was distilled from). */
  createdFrom?: string
  /** Pretrained vectors; read from the wink package when absent (tests pass a small set). */
  pretrained?: WinkVectors
}

export const DISTILL_DEFAULTS = {
  topWords: 20_000,
  ngramWords: 100_000,
  ngramBuckets: 16_384,
  ngramMin: 3,
  ngramMax: 5,
} as const

export interface DistillResult {
  bytes: Uint8Array
  embedder: Embedder
  stats: { vocab: number, trainingWords: number, trainingWordsFallback: number, templates: number, ms: number }
}

function isSingleToken (w: string): boolean {
  const t = tokenize(w)
  return t.length === 1 && t[0] === w
}

export async function distillEmbedder (opts: DistillOptions): Promise<DistillResult> {
  const t0 = performance.now()
  const topWords = opts.topWords ?? DISTILL_DEFAULTS.topWords
  const ngramWords = opts.ngramWords ?? DISTILL_DEFAULTS.ngramWords
  const B = opts.ngramBuckets ?? DISTILL_DEFAULTS.ngramBuckets
  const ngramMin = opts.ngramMin ?? DISTILL_DEFAULTS.ngramMin
  const ngramMax = opts.ngramMax ?? DISTILL_DEFAULTS.ngramMax

  // Training words and their document frequency over distinct templates.
  const templates = [...new Set(opts.templates)]
  const df = new Map<string, number>()
  for (const t of templates) for (const w of new Set(tokenize(t))) df.set(w, (df.get(w) ?? 0) + 1)

  const reach = Math.max(topWords, ngramWords)
  const pre = opts.pretrained ?? await readWinkVectors((w, r) => (r < reach * 1.2 + 1000) || df.has(w))
  const D = pre.dim

  // Frequency-ordered single-token pretrained words with a vector.
  const ranked: string[] = []
  for (const w of pre.words) {
    if (ranked.length >= reach) break
    if (pre.vectors.has(w) && isSingleToken(w)) ranked.push(w)
  }
  const raw = (w: string): Float32Array => normalise(Float32Array.from(pre.vectors.get(w) as Float32Array))
  // Centre on the mean of the kept words' unit vectors, then renormalise
  // ("all-but-the-top", Mu & Viswanath, ICLR 2018, first step): raw GloVe-style
  // vectors share a large common component, which makes every template look
  // alike (cosine 0.7-0.95 between unrelated HDFS templates).
  const centre = new Float64Array(D)
  const centreWords = ranked.slice(0, topWords)
  for (const w of centreWords) { const v = raw(w); for (let d = 0; d < D; d++) centre[d] += v[d] }
  for (let d = 0; d < D; d++) centre[d] /= Math.max(centreWords.length, 1)
  const unit = (w: string): Float32Array => {
    const v = raw(w)
    for (let d = 0; d < D; d++) v[d] -= centre[d]
    return normalise(v)
  }

  // N-gram table.
  const sums = new Float64Array(B * D)
  const counts = new Uint32Array(B)
  for (const w of ranked.slice(0, ngramWords)) {
    const v = unit(w)
    const rows = new Set<number>()
    for (const g of charNgrams(w, ngramMin, ngramMax)) rows.add(fnv1a32(g) % B)
    for (const r of rows) {
      counts[r]++
      const base = r * D
      for (let d = 0; d < D; d++) sums[base + d] += v[d]
    }
  }
  const ngrams = new Float32Array(B * D)
  const mean = new Float64Array(D)
  let filled = 0
  for (let r = 0; r < B; r++) {
    if (counts[r] === 0) continue
    filled++
    for (let d = 0; d < D; d++) { ngrams[r * D + d] = sums[r * D + d] / counts[r]; mean[d] += ngrams[r * D + d] }
  }
  for (let d = 0; d < D; d++) mean[d] /= Math.max(filled, 1)
  const rand = mulberry32(0x5eed)
  for (let r = 0; r < B; r++) {
    const row = ngrams.subarray(r * D, (r + 1) * D)
    if (counts[r] === 0) {
      for (let d = 0; d < D; d++) row[d] = rand() - 0.5
      normalise(row)
      for (let d = 0; d < D; d++) row[d] *= 0.1
    } else {
      for (let d = 0; d < D; d++) row[d] -= mean[d]
    }
  }
  roundTripHalf(ngrams)

  // Vocabulary: top pretrained words, then training words in sorted order.
  const vocab: string[] = ranked.slice(0, topWords)
  const inVocab = new Set(vocab)
  const trainingWords = [...df.keys()].sort()
  const known: string[] = []
  const unknown: string[] = []
  for (const w of trainingWords) {
    if (inVocab.has(w)) continue
    if (pre.vectors.has(w)) known.push(w)
    else unknown.push(w)
  }
  vocab.push(...known)
  const K = templates.length
  const idfDefault = Math.log(1 + K) + 1
  const meta: EmbedderMeta = {
    format: EMBEDDER_FORMAT,
    version: EMBEDDER_VERSION,
    dim: D,
    tokenizer: TOKENIZER_VERSION,
    ngramMin,
    ngramMax,
    ngramBuckets: B,
    hash: 'fnv1a32',
    idfDocs: K,
    idfDefault,
    idfWeighting: 'distinct-templates: ln((1+K)/(1+df))+1',
    source: pre.source,
    createdFrom: opts.createdFrom ?? '',
  }
  const vectors = new Float32Array((vocab.length + unknown.length) * D)
  vocab.forEach((w, i) => vectors.set(unit(w), i * D))
  roundTripHalf(vectors)
  // Fallback vectors of unknown training words, from the tables the sidecar will have.
  const known0 = new Embedder({ meta, vocab, idf: new Float32Array(vocab.length), vectors: vectors.subarray(0, vocab.length * D), ngrams })
  unknown.forEach((w, i) => vectors.set(known0.wordVector(w), (vocab.length + i) * D))
  vocab.push(...unknown)
  roundTripHalf(vectors)

  const idf = new Float32Array(vocab.length)
  vocab.forEach((w, i) => { idf[i] = Math.log((1 + K) / (1 + (df.get(w) ?? 0))) + 1 })

  const bytes = encodeEmbedderFile({ meta, vocab, idf, vectors: encodeHalfArray(vectors), ngrams: encodeHalfArray(ngrams) })
  const embedder = new Embedder({ meta, vocab, idf, vectors, ngrams })
  return {
    bytes,
    embedder,
    stats: { vocab: vocab.length, trainingWords: trainingWords.length, trainingWordsFallback: unknown.length, templates: K, ms: performance.now() - t0 },
  }
}

/** Small seeded PRNG (public domain, Tommy Ettinger), for the fixed vectors of empty n-gram rows. */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
