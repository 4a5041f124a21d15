/**
 * Snapshot files: one JSON file per source, written atomically so a crash never
 * leaves a half-written snapshot behind: write a temp file beside the target,
 * fsync it, rename it over the target, then fsync the directory.
 */
import { open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Drain } from './drain.js'
import { checkSnapshotHeader } from './drain-snapshot.js'
import { MiningError } from './errors.js'

/** Writes `drain`'s snapshot to `path` atomically. */
export async function saveSnapshot(path: string, drain: Drain): Promise<void> {
  const data = JSON.stringify(drain.snapshot())
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'w', 0o644)
  try {
    await fh.writeFile(data, 'utf8')
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => {})
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  // Make the rename itself durable. Some platforms can't fsync a directory; the
  // file content is already safe, so that failure is not an error.
  try {
    const dir = await open(dirname(path), 'r')
    try {
      await dir.sync()
    } finally {
      await dir.close()
    }
  } catch {
    /* directory fsync unsupported */
  }
}

/**
 * Reads a snapshot written by `saveSnapshot`. Resolves `null` when the file does
 * not exist (first start); rejects with DRAIN_SNAPSHOT_CORRUPT, _VERSION or
 * _INVALID (see errors.ts) when it can't be used.
 */
export async function loadSnapshot(path: string): Promise<Drain | null> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new MiningError('DRAIN_SNAPSHOT_CORRUPT', `${path} is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  try {
    checkSnapshotHeader(parsed)
    return Drain.restore(parsed)
  } catch (err) {
    if (err instanceof MiningError) throw new MiningError(err.code, `${path}: ${err.message}`, { cause: err })
    throw err
  }
}
