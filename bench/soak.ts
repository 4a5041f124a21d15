/**
 * Soak: the delivery promises (README "Delivery promises") measured with real
 * processes, real crashes and unique record ids. Bounded: every phase has a
 * fixed length: the whole run took 70 s on 2 cores (default scale).
 *
 *   sender(s) ──Forward+ack──▶ sidecar (plugin/cli/main.ts serve, a child) ──Forward+ack──▶ receiver (a child)
 *   every record {sid, seq}: receiver counts ids ─▶ lost = sent, never received; duplicated = received again
 *
 * Scenarios (bench/lib/soak-scenarios.ts):
 *   1a  kill -9 of the sidecar mid-stream, @fluent-org/logger FluentClient (ack, event retry, reconnect)
 *   1b  the same with Debian's python3-fluent-logger extended to resend unacked chunks (bench/lib/py-ack-sender.py)
 *   2   downstream stopped ~5 s mid-stream, then back on the same port
 *   3   ~10x the sustainable load against limits.max_pending_records 50,000: peak RSS vs a budget
 *   4   adapter reloads every 200 ms while HDFS lines are scored (bundled model, copied to a temp dir)
 *   5   300 hostile connections (mutated captures, random bytes, bombs, the fuzz test's crash inputs) beside a good sender;
 *       the exhaustive fuzzing is test/forward/fuzz.test.ts
 *
 *   npx tsx bench/soak.ts                      # everything (exit 1 if any record was lost)
 *   npx tsx bench/soak.ts --only 1a,2          # some scenarios ("1" = 1a and 1b)
 *   SOAK_SCALE=0.3 npx tsx bench/soak.ts       # shorter phases (outages and pauses shrink less)
 *   npx tsx bench/soak.ts --keep               # keep the temp dir (configs, sidecar logs) even on success
 *   npx tsx bench/soak.ts --buffer             # every sidecar with its disk buffer on (config/default.yaml's setting)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { RSS_BUDGET_MIB } from './lib/soak-load.js'
import { SCENARIOS, type Row } from './lib/soak-scenarios.js'
import { killAll } from './lib/soak-procs.js'

const { values: args } = parseArgs({ options: { only: { type: 'string' }, keep: { type: 'boolean', default: false }, buffer: { type: 'boolean', default: false } } })
if (args.buffer === true) process.env.SOAK_BUFFER = '1' // read by the scenario configs (lib/soak-scenarios.ts)
const scale = Number(process.env.SOAK_SCALE ?? 1)
if (!(scale > 0)) throw new Error(`SOAK_SCALE must be a positive number, not ${process.env.SOAK_SCALE}`)
const wanted = args.only?.split(',').map(s => s.trim()).filter(Boolean)
const selected = SCENARIOS.filter(s => wanted === undefined || wanted.some(w => s.id === w || s.id.startsWith(w) && /^\d+$/.test(w)))
if (wanted !== undefined && selected.length === 0) throw new Error(`--only ${args.only}: no such scenario (${SCENARIOS.map(s => s.id).join(', ')})`)

const dir = mkdtempSync(join(tmpdir(), 'fluent-anomaly-soak-'))
const command = `${process.env.SOAK_SCALE === undefined ? '' : `SOAK_SCALE=${scale} `}npx tsx bench/soak.ts ${process.argv.slice(2).join(' ')}`.trim()
console.log(`# soak: ${command}`)
console.log(`${availableParallelism()} cores (${cpus()[0]?.model ?? '?'}), node ${process.version}; temp dir ${dir}\n`)

const fmt = (x: number | undefined, digits = 0): string => x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const recovery = (r: Row): string => r.recoverMs === undefined ? '–' : `${fmt(r.recoverMs / 1000, 1)} s ${r.recoverWhat ?? ''}`.trim()

const rows: Row[] = []
const t0 = Date.now()
for (const s of selected) {
  console.log(`## ${s.id}. ${s.title}`)
  const started = Date.now()
  try {
    const row = await s.run({ dir, scale, log: line => console.log(`  ${line}`) })
    rows.push(row)
    console.log(`  => sent ${fmt(row.sent)}, received downstream ${fmt(row.received)}, duplicated ${fmt(row.duplicated)}, lost ${fmt(row.lost)}; sidecar peak RSS ${fmt(row.peakRss)} MiB; time to recover ${recovery(row)}`)
  } catch (err) {
    console.log(`  FAILED: ${(err as Error).stack ?? String(err)}`)
    rows.push({ id: s.id, title: s.title, failed: (err as Error).message, notes: [] })
  } finally {
    killAll() // nothing from one scenario leaks into the next
  }
  console.log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)\n`)
}

console.log(`# soak results (${command}; ${((Date.now() - t0) / 1000).toFixed(0)} s in all)\n`)
console.log('| # | scenario | records sent | received downstream | duplicated | lost | sidecar peak RSS, MiB | time to recover | result |')
console.log('|---|---|---:|---:|---:|---:|---:|---|---|')
for (const r of rows) {
  const result = r.failed !== undefined ? `FAILED: ${r.failed.split('\n')[0]}` : [r.lost === 0 ? 'ok' : 'LOST RECORDS', ...r.notes].join('; ')
  console.log(`| ${r.id} | ${r.title} | ${fmt(r.sent)} | ${fmt(r.received)} | ${fmt(r.duplicated)} | ${fmt(r.lost)} | ${fmt(r.peakRss)} | ${recovery(r)} | ${result} |`)
}
console.log(`
Notes:
- Every record carries {sid, seq}; the receiver (our Forward server in a child process, acking every record) counts ids.
  sent = ids the senders made; lost = ids sent and never received downstream (target 0); duplicated = receipts beyond
  the first (at-least-once: expected after a crash or an outage, and counted).
- The sidecar is the CLI (node --import tsx plugin/cli/main.ts serve --config <temp yaml>), relaying (no model) except in 4;
  peak RSS is its VmRSS sampled every 100 ms, over every incarnation. Its log is in the temp dir.
- 1a: FluentClient (PackedForward, ack timeout 3 s, eventRetry without limit, reconnect 100 ms–1 s), 5,000 emits unresolved at most.
  1b: bench/lib/py-ack-sender.py (python3-fluent-logger, Message mode), 200 chunks unacked at most, resends them on a new connection.
  The sidecar is SIGKILLed a third of the way in and restarted 1 s later on the same port. Recovery: kill → every record
  sent before the kill is downstream (the sender's reconnect, its ack timeout and the restart are all in it).
- 2, 3, 4: bench/lib/soak-sender.ts, out_forward-like (chunks unacked ≤ window, same chunk id resent on a new connection).
  2: recovery = receiver back → every record sent by then is downstream (the sidecar's reconnect backoff is in it).
  3: recovery = load stops → last ack. Budget ${RSS_BUDGET_MIB} MiB: see RSS_BUDGET_MIB in bench/lib/soak-load.ts for the reasoning.`)

const bad = rows.filter(r => r.failed !== undefined || r.lost !== 0)
if (bad.length === 0 && !args.keep) rmSync(dir, { recursive: true, force: true })
else console.log(`\nconfigs and sidecar logs kept in ${dir}`)
if (bad.length > 0) console.log(`\n${bad.length} scenario(s) lost records or failed: ${bad.map(r => r.id).join(', ')}`)
process.exit(bad.length > 0 ? 1 : 0)
