/**
 * The embedder file (`embedder.safetensors`): one file, safetensors layout
 * (https://github.com/huggingface/safetensors#format), so Python reads it with
 * `safetensors.numpy.load_file` and a glance at the header says what it is.
 *
 *   bytes 0..8        u64 little-endian N: length of the JSON header
 *   bytes 8..8+N      JSON header, UTF-8, space-padded to a multiple of 8
 *   bytes 8+N..       tensor data, little-endian, C order, back to back:
 *     idf      F32 [V]      IDF weight of each vocabulary word
 *     vectors  F16 [V, D]   unit-length word vector of each vocabulary word
 *     ngrams   F16 [B, D]   character n-gram table (fallback for unknown words)
 *
 * Header `__metadata__` (safetensors allows string values only):
 *   format "fluent-anomaly-embedder", version "1", dim D, tokenizer (version
 *   of tokenize.ts), vocab (the V words joined by "\n"; the tokenizer never
 *   emits whitespace), ngram_min / ngram_max / ngram_buckets / hash (n-gram
 *   table settings), idf_docs (number of training templates K), idf_default
 *   (weight of a word not in the vocabulary: ln(1+K)+1), idf_weighting,
 *   source (where the vectors came from), created_from (free text).
 */
export const EMBEDDER_FORMAT = 'fluent-anomaly-embedder'
export const EMBEDDER_VERSION = '1'

export interface EmbedderMeta {
  format: string
  version: string
  dim: number
  tokenizer: string
  ngramMin: number
  ngramMax: number
  ngramBuckets: number
  hash: string
  idfDocs: number
  idfDefault: number
  idfWeighting: string
  source: string
  createdFrom: string
}

export interface EmbedderTables {
  meta: EmbedderMeta
  vocab: string[]
  idf: Float32Array
  /** fp16 bytes, V*D*2 */
  vectors: Uint8Array
  /** fp16 bytes, B*D*2 */
  ngrams: Uint8Array
}

interface TensorInfo { dtype: string, shape: number[], data_offsets: [number, number] }

export function encodeEmbedderFile (t: EmbedderTables): Uint8Array {
  const V = t.vocab.length
  const D = t.meta.dim
  const B = t.meta.ngramBuckets
  if (t.idf.length !== V) throw new RangeError(`embedder file: idf has ${t.idf.length} entries for ${V} words`)
  if (t.vectors.length !== V * D * 2) throw new RangeError('embedder file: vectors size does not match vocab x dim')
  if (t.ngrams.length !== B * D * 2) throw new RangeError('embedder file: ngrams size does not match buckets x dim')
  const idfBytes = new Uint8Array(t.idf.buffer, t.idf.byteOffset, t.idf.byteLength)
  let off = 0
  const span = (n: number): [number, number] => [off, (off += n)]
  const header: Record<string, unknown> = {
    __metadata__: {
      format: t.meta.format,
      version: t.meta.version,
      dim: String(D),
      tokenizer: t.meta.tokenizer,
      ngram_min: String(t.meta.ngramMin),
      ngram_max: String(t.meta.ngramMax),
      ngram_buckets: String(B),
      hash: t.meta.hash,
      idf_docs: String(t.meta.idfDocs),
      idf_default: String(t.meta.idfDefault),
      idf_weighting: t.meta.idfWeighting,
      source: t.meta.source,
      created_from: t.meta.createdFrom,
      vocab: t.vocab.join('\n'),
    },
    idf: { dtype: 'F32', shape: [V], data_offsets: span(idfBytes.length) },
    vectors: { dtype: 'F16', shape: [V, D], data_offsets: span(t.vectors.length) },
    ngrams: { dtype: 'F16', shape: [B, D], data_offsets: span(t.ngrams.length) },
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8')
  const pad = (8 - (json.length % 8)) % 8
  if (pad > 0) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)])
  const out = new Uint8Array(8 + json.length + off)
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true)
  out.set(json, 8)
  const base = 8 + json.length
  out.set(idfBytes, base)
  out.set(t.vectors, base + idfBytes.length)
  out.set(t.ngrams, base + idfBytes.length + t.vectors.length)
  return out
}

export function decodeEmbedderFile (bytes: Uint8Array, name = 'embedder file'): EmbedderTables {
  const fail = (why: string): never => { throw new Error(`${name}: ${why}`) }
  if (bytes.length < 8) fail('too short')
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = Number(dv.getBigUint64(0, true))
  if (n > bytes.length - 8) fail('header length past end of file')
  let header: Record<string, unknown>
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, n).toString('utf8'))
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`)
  }
  const m = header.__metadata__ as Record<string, string> | undefined
  if (m === undefined || m.format !== EMBEDDER_FORMAT) fail(`not a ${EMBEDDER_FORMAT} file`)
  const md = m as Record<string, string>
  if (md.version !== EMBEDDER_VERSION) fail(`format version ${md.version}, this build reads ${EMBEDDER_VERSION}`)
  const num = (k: string): number => {
    const v = Number(md[k])
    if (!Number.isFinite(v)) fail(`metadata ${k} is not a number`)
    return v
  }
  const meta: EmbedderMeta = {
    format: md.format,
    version: md.version,
    dim: num('dim'),
    tokenizer: md.tokenizer,
    ngramMin: num('ngram_min'),
    ngramMax: num('ngram_max'),
    ngramBuckets: num('ngram_buckets'),
    hash: md.hash,
    idfDocs: num('idf_docs'),
    idfDefault: num('idf_default'),
    idfWeighting: md.idf_weighting ?? '',
    source: md.source ?? '',
    createdFrom: md.created_from ?? '',
  }
  const vocab = md.vocab === '' ? [] : md.vocab.split('\n')
  const base = 8 + n
  const tensor = (key: string, dtype: string, shape: number[]): Uint8Array => {
    const info = header[key] as TensorInfo | undefined
    if (info === undefined) return fail(`tensor ${key} missing`)
    if (info.dtype !== dtype || info.shape.length !== shape.length || info.shape.some((s, i) => s !== shape[i])) {
      fail(`tensor ${key} is ${info.dtype}${JSON.stringify(info.shape)}, expected ${dtype}${JSON.stringify(shape)}`)
    }
    const [a, b] = info.data_offsets
    if (base + b > bytes.length) fail(`tensor ${key} runs past end of file`)
    return bytes.subarray(base + a, base + b)
  }
  const V = vocab.length
  const idfBytes = tensor('idf', 'F32', [V])
  // Copy: the F32 view needs 4-byte alignment, which a subarray of a file buffer may not have.
  const idf = new Float32Array(V)
  new Uint8Array(idf.buffer).set(idfBytes)
  return {
    meta,
    vocab,
    idf,
    vectors: tensor('vectors', 'F16', [V, meta.dim]),
    ngrams: tensor('ngrams', 'F16', [meta.ngramBuckets, meta.dim]),
  }
}
