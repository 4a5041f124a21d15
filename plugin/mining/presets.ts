/**
 * Per-source Drain settings from a YAML presets file (default: the shipped
 * `config/drain-presets.yaml`). Validation rejects unknown keys and reports every
 * problem at once with its key path; the result is frozen.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { MiningError } from './errors.js'
import { BUILTIN_MASKS, Masker, type MaskRule } from './masker.js'
import { resolveDrainOptions, type DrainOptions } from './options.js'
import { compileLogFormat } from './log-format.js'

export interface Preset {
  name: string
  description?: string
  /** Loghub-style format of the raw line; Drain parses its `<Content>`. */
  logFormat?: string
  drain: Readonly<Required<DrainOptions>>
}

export interface Presets {
  readonly path: string
  readonly names: readonly string[]
  /** The preset called `name` (exact, else case-insensitive); throws PRESET_UNKNOWN. */
  get(name: string): Preset
}

const maskRef = z.union([
  z.string(),
  z.strictObject({ name: z.string().min(1), regex: z.string().min(1), placeholder: z.string().min(1).optional() }),
])
const drainFields = {
  depth: z.number().int().min(3).optional(),
  similarity: z.number().min(0).max(1).optional(),
  maxChildren: z.number().int().min(2).optional(),
  maxClusters: z.number().int().min(1).optional(),
  extraDelimiters: z.array(z.string().min(1)).optional(),
  masks: z.array(maskRef).optional(),
  parametrizeNumericTokens: z.boolean().optional(),
}
const fileSchema = z.strictObject({
  version: z.literal(1),
  masks: z
    .record(z.string(), z.union([z.string().min(1), z.strictObject({ regex: z.string().min(1), placeholder: z.string().min(1).optional() })]))
    .optional(),
  defaults: z.strictObject(drainFields).optional(),
  presets: z.record(z.string(), z.strictObject({ description: z.string().optional(), logFormat: z.string().optional(), ...drainFields })),
})

const invalid = (path: string, msg: string): never => {
  throw new MiningError('PRESETS_INVALID', `${path}: ${msg}`)
}

/** Where the shipped presets file is, from source (plugin/mining) or from the build (dist/plugin/mining). */
export function shippedPresetsPath(): string {
  for (const rel of ['../../config/drain-presets.yaml', '../../../config/drain-presets.yaml']) {
    const p = fileURLToPath(new URL(rel, import.meta.url))
    if (existsSync(p)) return p
  }
  return fileURLToPath(new URL('../../config/drain-presets.yaml', import.meta.url))
}

export function loadPresets(path: string = shippedPresetsPath()): Presets {
  let raw: unknown
  try {
    raw = parseYaml(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new MiningError('PRESETS_INVALID', `${path}: ${(err as Error).message}`, { cause: err })
  }
  return buildPresets(raw, path)
}

/** Validates already-parsed presets (e.g. embedded in a bigger config). */
export function buildPresets(raw: unknown, path = '<presets>'): Presets {
  const parsed = fileSchema.safeParse(raw)
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`)
    throw new MiningError('PRESETS_INVALID', `${path} has ${lines.length} problem(s):\n${lines.join('\n')}`)
  }
  const file = parsed.data
  const library = new Map<string, MaskRule>(Object.entries(BUILTIN_MASKS))
  for (const [name, m] of Object.entries(file.masks ?? {})) {
    library.set(name, typeof m === 'string' ? { name, regex: m } : { name, ...m })
  }
  const resolveMasks = (refs: z.infer<typeof maskRef>[], at: string): MaskRule[] =>
    refs.map((r, i) => (typeof r === 'string' ? library.get(r) ?? invalid(`${at}.${i}`, `unknown mask "${r}" (known: ${[...library.keys()].join(', ')})`) : r))

  const { masks: defaultMasks, ...defaultRest } = file.defaults ?? {}
  const presets = new Map<string, Preset>()
  for (const [name, p] of Object.entries(file.presets)) {
    const { description, logFormat, masks, ...rest } = p
    const at = `${path} presets.${name}`
    const maskList = masks ?? defaultMasks
    try {
      const drain = resolveDrainOptions({
        ...defaultRest,
        ...rest,
        ...(maskList !== undefined ? { masks: resolveMasks(maskList, `${at}.masks`) } : {}),
      })
      new Masker(drain.masks) // compiles the masks: a bad regex fails here, at load
      if (logFormat !== undefined) compileLogFormat(logFormat)
      presets.set(name, deepFreeze({ name, ...(description ? { description } : {}), ...(logFormat ? { logFormat } : {}), drain }))
    } catch (err) {
      if (err instanceof MiningError && err.code !== 'PRESETS_INVALID') invalid(at, err.message)
      throw err
    }
  }
  const names = Object.freeze([...presets.keys()])
  return Object.freeze({
    path,
    names,
    get(name: string): Preset {
      const p = presets.get(name) ?? [...presets.values()].find((x) => x.name.toLowerCase() === name.toLowerCase())
      if (p === undefined) throw new MiningError('PRESET_UNKNOWN', `no Drain preset "${name}" in ${path} (known: ${names.join(', ')})`)
      return p
    },
  })
}

let shipped: Presets | null = null

/** The preset called `name`, from `presets` or else from the shipped file (loaded once). */
export function presetFor(name: string, presets?: Presets): Preset {
  if (presets !== undefined) return presets.get(name)
  shipped ??= loadPresets()
  return shipped.get(name)
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}
