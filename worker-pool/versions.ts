/**
 * The adapter versions the pool holds, each copied once into shared memory
 * (see task.ts for why), with a count of the windows that still need it.
 *
 * A version is live while it is the latest one issued for its source, or
 * while windows issued with it are queued or running. So after a hot swap
 * (plugin reloads an adapter) the old version's windows finish with the old
 * tensors, and then the old version is dropped here and, on their next task,
 * in the workers.
 */
import { PoolError } from './errors.js'
import type { SharedSourceTensors } from './task.js'

/** What score() takes: models/bundle.ts `Adapter.tensors` fits as is. */
export interface SourceTensor { name: string, shape: readonly number[], data: Float32Array }

interface Entry { source: string, shared: SharedSourceTensors, refs: number }

export const versionKey = (source: string, version: string): string => `${source}@${version}`

export class SourceVersions {
  readonly #entries = new Map<string, Entry>()
  readonly #latest = new Map<string, string>()

  /** Take `windows` references on the version, registering (copying) its tensors the first time it is seen. */
  acquire (source: string, version: string, tensors: readonly SourceTensor[], windows: number): SharedSourceTensors {
    const key = versionKey(source, version)
    let entry = this.#entries.get(key)
    if (entry === undefined) {
      entry = { source, shared: share(key, tensors), refs: 0 }
      this.#entries.set(key, entry)
    }
    const previous = this.#latest.get(source)
    this.#latest.set(source, key)
    entry.refs += windows
    if (previous !== undefined && previous !== key) this.#dropIfUnused(previous)
    return entry.shared
  }

  release (key: string, windows: number): void {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    entry.refs -= windows
    this.#dropIfUnused(key)
  }

  /** Keys the workers should keep. */
  live (): string[] { return [...this.#entries.keys()] }

  get size (): number { return this.#entries.size }

  #dropIfUnused (key: string): void {
    const entry = this.#entries.get(key)
    if (entry !== undefined && entry.refs <= 0 && this.#latest.get(entry.source) !== key) this.#entries.delete(key)
  }
}

function share (key: string, tensors: readonly SourceTensor[]): SharedSourceTensors {
  if (!Array.isArray(tensors) || tensors.length === 0) throw new PoolError('POOL_BAD_INPUT', `${key}: no per-source tensors given`)
  let total = 0
  const layout: SharedSourceTensors['tensors'] = []
  for (const t of tensors) {
    const want = t.shape.reduce((a: number, b: number) => a * b, 1)
    if (!(t.data instanceof Float32Array) || t.data.length !== want) {
      throw new PoolError('POOL_BAD_INPUT', `${key}: tensor "${t.name}" has ${t.data?.length} values, its shape [${t.shape.join(', ')}] needs ${want} (Float32Array)`)
    }
    layout.push({ name: t.name, shape: [...t.shape], offset: total, length: want })
    total += want
  }
  const buffer = new SharedArrayBuffer(total * 4)
  const all = new Float32Array(buffer)
  tensors.forEach((t, i) => all.set(t.data, layout[i].offset))
  return { key, buffer, tensors: layout }
}
