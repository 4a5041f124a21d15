/**
 * The processes a soak run starts, and the guarantee that none outlives it:
 * every child is registered here and SIGKILLed on exit, whatever the exit
 * (normal end, thrown error, Ctrl-C).
 *
 *   SidecarProcess: `node --import tsx plugin/cli/main.ts serve --config <yaml>`, as a user runs it,
 *                   output to a log file; start / kill -9 / stop; VmRSS sampled every 100 ms
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sleep, wallMs } from './forward-bench.js'

export const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..')

const children = new Set<ChildProcess>()

/** Register a child so it is killed when this process exits. */
export function track<T extends ChildProcess> (child: T): T {
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

export function killAll (): void {
  for (const c of children) { try { c.kill('SIGKILL') } catch { /* already gone */ } }
}

process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => { killAll(); process.exit(130) })

/** A TCP port nothing listens on right now (bound to 0, then released). */
export async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise(resolve => s.close(resolve))
  return port
}

/** Resolves once something accepts TCP connections on `port` (or rejects after `ms`). */
export async function waitForPort (port: number, ms: number, alive: () => boolean = () => true): Promise<void> {
  const deadline = wallMs() + ms
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect({ host: '127.0.0.1', port })
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    if (!alive()) throw new Error(`process for port ${port} exited before listening`)
    if (wallMs() > deadline) throw new Error(`nothing listens on port ${port} after ${ms} ms`)
    await sleep(50)
  }
}

/** Resident set size of a process in MiB (Linux /proc), NaN when it is gone. */
export function rssMiB (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? NaN : Number(m[1]) / 1024
  } catch { return NaN }
}

/** The sidecar CLI as a child process, restartable on the same config (and so the same ports). */
export class SidecarProcess {
  private child: ChildProcess | undefined
  private sampler: NodeJS.Timeout | undefined
  /** Highest VmRSS seen over every incarnation (MiB). */
  peakRss = 0
  /** VmRSS once listening, before any load (first incarnation). */
  idleRss = NaN
  starts = 0

  constructor (readonly dir: string, readonly name: string, readonly port: number, config: Record<string, unknown>) {
    // JSON is YAML: the file goes through config/load.ts like any user's.
    writeFileSync(this.configPath, JSON.stringify(config, null, 2))
  }

  get configPath (): string { return join(this.dir, `${this.name}.yaml`) }
  get logPath (): string { return join(this.dir, `${this.name}.log`) }
  get pid (): number | undefined { return this.child?.pid }
  /** undefined while running (or never started); else the exit code or signal of the last incarnation. */
  get exitCode (): number | string | undefined {
    const c = this.child
    if (c === undefined || (c.exitCode === null && c.signalCode === null)) return undefined
    return c.exitCode ?? c.signalCode ?? undefined
  }

  /** Spawn and wait until the Forward port accepts; returns ms from spawn to listening. */
  async start (timeoutMs = 60_000): Promise<number> {
    const t0 = wallMs()
    const fd = openSync(this.logPath, 'a')
    const child = track(spawn(process.execPath, ['--import', 'tsx', 'plugin/cli/main.ts', 'serve', '--config', this.configPath], { cwd: REPO, stdio: ['ignore', fd, fd] }))
    closeSync(fd)
    this.child = child
    let exited = false
    child.once('exit', () => { exited = true })
    clearInterval(this.sampler)
    this.sampler = setInterval(() => {
      const r = child.pid === undefined ? NaN : rssMiB(child.pid)
      if (Number.isFinite(r)) this.peakRss = Math.max(this.peakRss, r)
    }, 100).unref()
    await waitForPort(this.port, timeoutMs, () => !exited)
    if (this.starts++ === 0) this.idleRss = rssMiB(child.pid as number)
    return wallMs() - t0
  }

  /** SIGKILL: no shutdown, no flush, nothing acked after this. */
  async kill9 (): Promise<void> {
    const c = this.child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise(resolve => c.once('exit', resolve))
    c.kill('SIGKILL')
    await gone
    clearInterval(this.sampler)
  }

  /** SIGTERM (graceful: delivers what is pending within shutdown_grace), SIGKILL after `ms`. */
  async stop (ms = 15_000): Promise<void> {
    const c = this.child
    clearInterval(this.sampler)
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise(resolve => c.once('exit', resolve))
    c.kill('SIGTERM')
    const timer = setTimeout(() => c.kill('SIGKILL'), ms)
    await gone
    clearTimeout(timer)
  }

  /** The last lines of its log (for failures). */
  logTail (lines = 20): string {
    try { return readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') } catch { return '' }
  }
}
