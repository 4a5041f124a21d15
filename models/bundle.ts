/**
 * Loading and verifying a model bundle (DESIGN.md, "Model bundle"), the one
 * path both start-up and adapter reload go through.
 *
 *   manifest.json ─zod─▶ Manifest ─▶ encoder.onnx sha256 == manifest? ─▶ embedder sha256?
 *                                        │
 *   adapters/<source>.json ─zod─▶ encoder_sha256 == manifest's? ─▶ <source>.safetensors:
 *                                        every per-source input present, float32, right shape, finite, nothing extra
 *   (optional) ONNX session ─▶ its inputs == fixed inputs + manifest.encoder.source_tensors (names, shapes, types)
 *
 * Layout and tensor names: models/trainer/bundle.py and models/trainer/model.py.
 * Every refusal is a ModelError with a stable code (models/errors.ts); an
 * adapter error is `recoverable`: the caller keeps the adapter it has.
 */
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ModelError } from './errors.js'
import { AdapterMetaSchema, ManifestSchema, formatIssues, type AdapterMeta, type Manifest } from './manifest.js'
import { asFloat32, decodeSafetensors } from './safetensors.js'

export { type Manifest, type AdapterMeta } from './manifest.js'

/** The encoder's inputs that are not per-source tensors, in graph order. */
export const FIXED_INPUTS = ['embeddings', 'mask', 'param_buckets'] as const

export interface AdapterTensor { name: string, shape: number[], data: Float32Array }

export interface Adapter {
  source: string
  meta: AdapterMeta
  threshold: number
  /** In manifest.encoder.source_tensors order, i.e. the encoder's input order. */
  tensors: AdapterTensor[]
}

export interface Bundle {
  dir: string
  manifest: Manifest
  encoderPath: string
  adapters: Map<string, Adapter>
}

/** What models/bundle.ts needs of an onnxruntime-node InferenceSession (kept structural: no runtime import here). */
export interface SessionInputs {
  readonly inputNames: readonly string[]
  readonly inputMetadata?: readonly ({ name: string, isTensor: boolean, type?: string, shape?: ReadonlyArray<number | string> })[]
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function readOr (path: string, code: 'BUNDLE_NOT_FOUND' | 'BUNDLE_FILE_MISSING' | 'ADAPTER_NOT_FOUND', what: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new ModelError(code, `${what} ${path}: ${(err as Error).message}`, { cause: err })
  }
}

export function parseManifest (text: string, where = 'manifest.json'): Manifest {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new ModelError('BUNDLE_MANIFEST_INVALID', `${where} is not JSON: ${(err as Error).message}`, { cause: err })
  }
  const r = ManifestSchema.safeParse(raw)
  if (!r.success) throw new ModelError('BUNDLE_MANIFEST_INVALID', `${where} fails validation:\n${formatIssues(r.error)}`, { cause: r.error })
  const m = r.data
  const names = new Set<string>()
  for (const t of m.encoder.source_tensors) {
    if (names.has(t.name) || (FIXED_INPUTS as readonly string[]).includes(t.name)) {
      throw new ModelError('BUNDLE_MANIFEST_INVALID', `${where} fails validation:\n  encoder.source_tensors: "${t.name}" is listed twice or shadows a fixed input`)
    }
    names.add(t.name)
  }
  return m
}

/** Load a bundle: manifest, encoder and embedder hashes, and every listed source's adapter. */
export async function loadBundle (dir: string, opts: { session?: SessionInputs, sources?: string[] } = {}): Promise<Bundle> {
  const manifestPath = join(dir, 'manifest.json')
  const manifest = parseManifest((await readOr(manifestPath, 'BUNDLE_NOT_FOUND', 'bundle manifest')).toString('utf8'), manifestPath)
  const encoderPath = join(dir, manifest.encoder.file)
  const encoderSha = sha256(await readOr(encoderPath, 'BUNDLE_FILE_MISSING', 'encoder'))
  if (encoderSha !== manifest.encoder.sha256) {
    throw new ModelError('BUNDLE_ENCODER_HASH', `${encoderPath} has sha256 ${encoderSha}, the manifest says ${manifest.encoder.sha256}`)
  }
  const embedderPath = join(dir, manifest.embedder.files[0])
  const embedderSha = sha256(await readOr(embedderPath, 'BUNDLE_FILE_MISSING', 'embedder'))
  if (embedderSha !== manifest.embedder.sha256) {
    throw new ModelError('BUNDLE_EMBEDDER_HASH', `${embedderPath} has sha256 ${embedderSha}, the manifest says ${manifest.embedder.sha256}`)
  }
  if (opts.session !== undefined) verifySession(manifest, opts.session)
  const adapters = new Map<string, Adapter>()
  for (const source of opts.sources ?? Object.keys(manifest.sources)) adapters.set(source, await loadAdapter(dir, manifest, source))
  return { dir, manifest, encoderPath, adapters }
}

/** One source's adapter, checked against the bundle's encoder (also the reload path). */
export async function loadAdapter (dir: string, manifest: Manifest, source: string): Promise<Adapter> {
  const entry = manifest.sources[source]
  const metaPath = join(dir, entry?.metadata ?? `adapters/${source}.json`)
  const tensorPath = join(dir, entry?.adapter ?? `adapters/${source}.safetensors`)
  let raw: unknown
  try {
    raw = JSON.parse((await readOr(metaPath, 'ADAPTER_NOT_FOUND', `adapter metadata of source "${source}"`)).toString('utf8'))
  } catch (err) {
    if (err instanceof ModelError) throw err
    throw new ModelError('ADAPTER_METADATA_INVALID', `${metaPath} is not JSON: ${(err as Error).message}`, { cause: err })
  }
  const r = AdapterMetaSchema.safeParse(raw)
  if (!r.success) throw new ModelError('ADAPTER_METADATA_INVALID', `${metaPath} fails validation:\n${formatIssues(r.error)}`, { cause: r.error })
  const meta = r.data
  if (meta.encoder_sha256 !== manifest.encoder.sha256) {
    throw new ModelError('ADAPTER_ENCODER_MISMATCH',
      `adapter "${source}" was trained against encoder ${meta.encoder_sha256}, but this bundle's encoder is ${manifest.encoder.sha256}; ` +
      `train it again with \`adapt --bundle\` on this bundle`)
  }
  const bytes = await readOr(tensorPath, 'ADAPTER_NOT_FOUND', `adapter tensors of source "${source}"`)
  let file
  try {
    file = decodeSafetensors(bytes, tensorPath)
  } catch (err) {
    throw new ModelError('ADAPTER_TENSOR_INVALID', (err as Error).message, { cause: err })
  }
  const tensors: AdapterTensor[] = []
  for (const spec of manifest.encoder.source_tensors) {
    const t = file.tensors.get(spec.name)
    const bad = (why: string): never => { throw new ModelError('ADAPTER_TENSOR_INVALID', `adapter "${source}" tensor "${spec.name}": ${why} (${tensorPath})`) }
    if (t === undefined) bad('missing')
    else if (t.dtype !== 'F32') bad(`dtype ${t.dtype}, the encoder takes F32`)
    else if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) bad(`shape [${t.shape.join(', ')}], the encoder takes [${spec.shape.join(', ')}]`)
    else {
      const data = asFloat32(t)
      const i = data.findIndex(v => !Number.isFinite(v))
      if (i >= 0) bad(`value ${data[i]} at flat index ${i} is not finite`)
      tensors.push({ name: spec.name, shape: t.shape, data })
    }
  }
  const extra = [...file.tensors.keys()].filter(k => !manifest.encoder.source_tensors.some(s => s.name === k))
  if (extra.length) throw new ModelError('ADAPTER_TENSOR_INVALID', `adapter "${source}" has tensors the encoder does not take: ${extra.join(', ')} (${tensorPath})`)
  return { source, meta, threshold: meta.threshold, tensors }
}

/** The ONNX session's inputs must be the fixed inputs followed by the manifest's per-source tensors, same shapes. */
export function verifySession (manifest: Manifest, session: SessionInputs): void {
  const want = [...FIXED_INPUTS, ...manifest.encoder.source_tensors.map(t => t.name)]
  const got = [...session.inputNames]
  const missing = want.filter(n => !got.includes(n))
  const extra = got.filter(n => !want.includes(n))
  if (missing.length || extra.length) {
    throw new ModelError('BUNDLE_ENCODER_INPUTS', `encoder.onnx inputs differ from the manifest: missing ${missing.join(', ') || 'none'}; unexpected ${extra.join(', ') || 'none'}`)
  }
  for (const meta of session.inputMetadata ?? []) {
    const spec = manifest.encoder.source_tensors.find(t => t.name === meta.name)
    if (spec === undefined || meta.shape === undefined) continue
    if (meta.type !== undefined && meta.type !== 'float32') {
      throw new ModelError('BUNDLE_ENCODER_INPUTS', `encoder.onnx input "${meta.name}" is ${meta.type}, the manifest says float32`)
    }
    if (meta.shape.length !== spec.shape.length || meta.shape.some((d, i) => d !== spec.shape[i])) {
      throw new ModelError('BUNDLE_ENCODER_INPUTS', `encoder.onnx input "${meta.name}" has shape [${meta.shape.join(', ')}], the manifest says [${spec.shape.join(', ')}]`)
    }
  }
}
