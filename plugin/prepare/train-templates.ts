/**
 * `prepare --embedder-also DIR`: the training templates of another prepared
 * folder, so one distilled embedder covers every source that will share an
 * encoder (multi-source pretraining: models/trainer, `pretrain --data A --data B`).
 * Only templates of that folder's training windows, as for the folder being
 * prepared: the vocabulary never comes from a validation or test window.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PrepareError } from './errors.js'
import { readNpy } from './npy.js'

export async function trainTemplatesOf (dir: string): Promise<string[]> {
  try {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { split: { train: { start: number, end: number } } }
    const w = await readNpy(join(dir, 'windows.npy'))
    const T = w.shape[1]
    const data = w.data as Int32Array
    const rows = new Set<number>()
    for (let i = meta.split.train.start * T; i < meta.split.train.end * T; i++) if (data[i] >= 0) rows.add(data[i])
    const text = new Map<number, string>()
    for (const line of (await readFile(join(dir, 'templates.jsonl'), 'utf8')).split('\n')) {
      if (line.trim() === '') continue
      const t = JSON.parse(line) as { row: number, text: string }
      text.set(t.row, t.text)
    }
    return [...rows].sort((a, b) => a - b).map(r => text.get(r) ?? '').filter(t => t !== '')
  } catch (err) {
    throw new PrepareError('PREPARE_USAGE', `--embedder-also ${dir}: not a prepared folder (${(err as Error).message})`, { cause: err })
  }
}
