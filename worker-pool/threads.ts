/**
 * How many threads, and which file they run. Pool threads × ORT intra-op
 * threads ≤ cores (STYLE habit 8): oversubscribing makes every batch slower.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** threads × ortThreads ≤ cores unless both are given (then as given). */
export function threadPlan (cores: number, threads?: number, ortThreads?: number): { threads: number, ortThreads: number } {
  if (threads !== undefined && ortThreads !== undefined) return { threads, ortThreads }
  if (threads !== undefined) return { threads, ortThreads: Math.max(1, Math.floor(cores / threads)) }
  const ort = ortThreads ?? 1
  return { threads: Math.max(1, Math.floor(cores / ort)), ortThreads: ort }
}

/** worker.ts beside this file under tsx (tests, bench), worker.js in dist/. */
export function workerEntry (): { filename: string, execArgv?: string[] } {
  const js = fileURLToPath(new URL('./worker.js', import.meta.url))
  if (existsSync(js)) return { filename: js }
  const ts = fileURLToPath(new URL('./worker.ts', import.meta.url))
  // workers inherit the parent's execArgv (tsx's loader under tap and `tsx`); add it when the parent got tsx another way
  const hasTsx = process.execArgv.some(a => a.includes('tsx'))
  return hasTsx ? { filename: ts } : { filename: ts, execArgv: [...process.execArgv, '--import', import.meta.resolve('tsx')] }
}
