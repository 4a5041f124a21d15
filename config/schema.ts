/**
 * The one config schema: types, defaults, docs (`describe`) and validation.
 * Unknown keys are rejected (`strict`), every error is reported with its key
 * path, and the loaded result is frozen (config/load.ts).
 * Durations take a number of milliseconds or a string: `500ms`, `30s`, `5m`, `1h`.
 * Sizes take a number of bytes or a string: `512K`, `6M`, `6MB`, `1GiB`.
 */
import { z } from 'zod'

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const UNIT_B: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 }

/** Milliseconds. */
export const duration = () => z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v
  const m = DURATION.exec(v.trim())
  if (m === null) { ctx.addIssue({ code: 'custom', message: `not a duration: "${v}" (use e.g. 500ms, 30s, 5m)` }); return z.NEVER }
  return Number(m[1]) * UNIT_MS[m[2]]
})

/** Bytes. Like Fluent Bit, K/M/G are powers of 1024. */
export const size = () => z.union([z.number().int().positive(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v
  const m = SIZE.exec(v.trim())
  if (m === null) { ctx.addIssue({ code: 'custom', message: `not a size: "${v}" (use e.g. 512K, 6M)` }); return z.NEVER }
  return Math.floor(Number(m[1]) * UNIT_B[(m[2] ?? 'b').toLowerCase()])
})

const port = z.number().int().min(0).max(65535)
const host = z.string().min(1)

const serverTls = z.object({
  enabled: z.boolean().default(false).describe('Serve Forward over TLS.'),
  cert_file: z.string().optional().describe('PEM certificate (chain) file.'),
  key_file: z.string().optional().describe('PEM private key file.'),
  ca_file: z.string().optional().describe('PEM CA bundle used to verify client certificates.'),
  verify_client: z.boolean().default(false).describe('Require and verify a client certificate against ca_file.'),
}).strict().refine(t => !t.enabled || (t.cert_file !== undefined && t.key_file !== undefined), {
  message: 'tls.enabled needs cert_file and key_file', path: ['cert_file'],
}).refine(t => !t.verify_client || t.ca_file !== undefined, { message: 'verify_client needs ca_file', path: ['ca_file'] })

const clientTls = z.object({
  enabled: z.boolean().default(false).describe('Connect to the downstream over TLS.'),
  ca_file: z.string().optional().describe('PEM CA bundle to verify the downstream (default: system CAs).'),
  cert_file: z.string().optional().describe('Client certificate, when the downstream verifies clients.'),
  key_file: z.string().optional().describe('Client private key.'),
  verify: z.boolean().default(true).describe('Verify the downstream certificate and host name.'),
  servername: z.string().optional().describe('SNI / expected host name (default: host).'),
}).strict()

const user = z.object({ username: z.string().min(1), password: z.string() }).strict()

const inputSecurity = z.object({
  shared_key: z.string().min(1).describe('Require the secure-forward handshake with this shared key.'),
  self_hostname: z.string().min(1).default('fluent-anomaly').describe('Server host name sent in PONG.'),
  users: z.array(user).default([]).describe('If set, clients must also authenticate with one of these users.'),
}).strict()

const outputSecurity = z.object({
  shared_key: z.string().min(1).describe('Shared key of the downstream in_forward.'),
  self_hostname: z.string().min(1).default('fluent-anomaly').describe('Client host name sent in PING.'),
  username: z.string().default(''),
  password: z.string().default(''),
}).strict()

export const forwardInput = z.object({
  listen: host.default('127.0.0.1').describe('Address to bind; 0.0.0.0 to accept from other hosts.'),
  port: port.default(24224).describe('Forward port (24224 is the Fluentd/Fluent Bit convention).'),
  max_frame_size: size().default(6 * 1024 * 1024).describe('Largest msgpack frame accepted (Fluent Bit in_forward buffer_max_size is 6M); a larger frame closes that connection.'),
  max_decompressed_size: size().default(6 * 1024 * 1024).describe('Largest inflated CompressedPackedForward payload (gzip bomb guard).'),
  max_connections: z.number().int().positive().default(1024).describe('Connections beyond this are closed at once.'),
  idle_timeout: duration().default(0).describe('Close a connection silent for this long (0: never; Fluent Bit keeps idle keepalive connections).'),
  frame_timeout: duration().default(60_000).describe('Close a connection that starts a frame and does not finish it within this long (slow senders; 0: never).'),
  tls: serverTls.prefault({}),
  security: inputSecurity.optional().describe('Secure forward (HELO/PING/PONG). Omit for none.'),
}).strict()

/**
 * HTTP input for senders without a Forward output: Vector's `http` sink
 * (vectordotdev/vector#534). Conventions of Fluent Bit in_http (tag from the
 * path, gzip) with Forward's acknowledgement: 200 only once durable.
 */
export const httpInput = z.object({
  enabled: z.boolean().default(false).describe('Accept JSON / NDJSON log records over HTTP POST (Vector\'s http sink).'),
  listen: host.default('127.0.0.1').describe('Address to bind; 0.0.0.0 to accept from other hosts (then set token).'),
  port: port.default(9880).describe('HTTP port. 9880 is the Fluentd / Fluent Bit in_http default, so operators know it, and is none of the sidecar\'s other ports (24224 in, 24225 back, 24231 admin); move it if one of those in_http inputs runs on the same host.'),
  tag: z.string().min(1).default('http').describe('Tag of records POSTed to "/"; POST /app.hdfs tags them app.hdfs (as Fluent Bit in_http).'),
  tag_key: z.string().min(1).optional().describe('Take each record\'s tag from this field when it holds a string (Fluent Bit in_http tag_key); the path tag otherwise. The field stays in the record.'),
  time_key: z.string().min(1).nullable().default('timestamp').describe('Record field holding the event time: an RFC 3339 string (Vector\'s log schema writes "timestamp" so, to the nanosecond) or epoch seconds. Missing or unreadable: the time the request arrived. null: always the arrival time.'),
  max_body_size: size().default(16 * 1024 * 1024).describe('Largest request body as sent (compressed or not); larger answers 413, which Vector does not retry. The default leaves room above a full Vector http sink batch (batch.max_bytes, 10 MB by default, counted before encoding).'),
  max_decompressed_size: size().default(32 * 1024 * 1024).describe('Largest body after gunzip / inflate (gzip bomb guard); larger answers 413.'),
  ack_timeout: duration().default(55_000).describe('Longest a request waits for its records to be durable (downstream ack, or the disk buffer); then 503 and the sender retries (records may arrive twice). Keep it above the windows\' max_age and below the sender\'s timeout (Vector request.timeout_secs, 60 s).'),
  retry_after: duration().default(1000).describe('Retry-After sent with 429 (the pipeline is full) and 503 (ack timeout, shutting down); rounded up to whole seconds.'),
  token: z.string().min(16).optional().describe('Require "Authorization: Bearer <token>" (use ${ENV}); without it any local process may post.'),
  max_connections: z.number().int().positive().default(256).describe('Connections beyond this are closed at once (each request may hold up to max_body_size + max_decompressed_size in memory).'),
  read_timeout: duration().default(60_000).describe('Close a connection whose request (headers and body) takes longer than this to arrive (slow senders; 0: never). Waiting for the ack does not count.'),
  idle_timeout: duration().default(120_000).describe('Keep an idle keep-alive connection this long; longer than the sender\'s connection-pool idle timeout (hyper\'s default, which Vector uses, is 90 s), so it never sends on a connection being closed.'),
}).strict()

export const forwardOutput = z.object({
  host: host.default('127.0.0.1').describe('Downstream Forward receiver (e.g. Fluent Bit in_forward).'),
  port: port.default(24225),
  tag_prefix: z.string().default('scored.').describe('Prepended to each tag on the way out, so re-emitted records never loop back into the sidecar.'),
  tag_template: z.string().optional().describe('Instead of tag_prefix: a template where {tag} is the incoming tag, e.g. "anomaly.{tag}".'),
  retain_metadata: z.boolean().default(true).describe('Re-emit Fluent Bit v2 metadata as [[time, metadata], record]. Set false for a Fluentd downstream (it cannot read that form).'),
  compress: z.enum(['none', 'gzip']).default('none').describe('gzip sends CompressedPackedForward.'),
  ack_timeout: duration().default(30_000).describe('Resend a chunk (same chunk id, new connection) when its ack takes longer.'),
  connect_timeout: duration().default(5000),
  retry_initial: duration().default(500).describe('First reconnect delay; doubles per failure, with jitter.'),
  retry_max: duration().default(30_000).describe('Longest reconnect delay.'),
  max_chunk_records: z.number().int().positive().default(1000).describe('Records per downstream chunk.'),
  max_chunk_size: size().default(1024 * 1024).describe('Bytes per downstream chunk (before compression).'),
  flush_interval: duration().default(0).describe('A partial chunk is sent after this long; 0 sends at the end of the current event-loop turn (events that arrived together still travel together).'),
  max_inflight_chunks: z.number().int().positive().default(8).describe('Chunks sent and awaiting ack at once.'),
  tls: clientTls.prefault({}),
  security: outputSecurity.optional(),
}).strict()

const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform(v => typeof v === 'string' ? [v] : v)

/**
 * The built-in window settings: served only where neither the config nor the
 * bundle's trained policy (manifest `sources[<adapter>].window`) says
 * (plugin/scoring/window-policy.ts). The schema fills none of them in, so a
 * key the config leaves out stays undefined and the trained value wins.
 * ms / lines; null = no limit.
 */
export const WINDOW_DEFAULTS = Object.freeze({
  mode: 'session' as 'session' | 'sliding',
  size: 20,
  idle_timeout: 30_000 as number | null,
  max_age: 600_000 as number | null,
  max_length: 256 as number | null,
  max_open: 10_000,
  time: 'event' as 'event' | 'arrival',
})

/** A window limit: a duration (> 0), or null / "none" for no limit. Undefined (left out): the trained value. */
const limitDuration = () => z.union([z.number(), z.string(), z.null()]).transform((v, ctx) => {
  if (v === null || (typeof v === 'string' && v.trim().toLowerCase() === 'none')) return null
  const ms = typeof v === 'number' ? v : (() => { const m = DURATION.exec(v.trim()); return m === null ? NaN : Number(m[1]) * UNIT_MS[m[2]] })()
  if (!(ms > 0)) { ctx.addIssue({ code: 'custom', message: `not a duration > 0: ${JSON.stringify(v)} (use e.g. 30s, 12h, or none for no limit)` }); return z.NEVER }
  return ms
})

/** A count limit: an integer >= 1, or null / "none" for no limit. */
const limitCount = () => z.union([z.number().int().positive(), z.null(), z.literal('none')]).transform(v => v === 'none' ? null : v)

const sourceWindow = z.object({
  mode: z.enum(['session', 'sliding']).optional().describe('Default: the mode the adapter was trained with (bundle manifest).'),
  key_pattern: z.string().optional().describe('Session key regex over the message (every match is a session the line belongs to). Default: the trained one, e.g. blk_-?\\d+ for HDFS.'),
  key_field: z.string().optional().describe('Session key from this record field instead (tried before key_pattern). Default: the trained one.'),
  size: z.number().int().positive().optional().describe('Sliding: lines per window. Default: the trained size, else 20.'),
  step: z.number().int().positive().optional().describe('Sliding: lines between window starts. Default: the trained step, else size.'),
  group_by: z.string().optional().describe('Sliding: one stream per value of this record field (e.g. host). Default: the trained one (none).'),
  idle_timeout: limitDuration().optional().describe('A window with no new line for this long (on the window clock, `time`) is scored; none: no limit. Default: the trained one, else 30s.'),
  max_age: limitDuration().optional().describe('A window open this long (on the window clock) is scored; none: no limit. Default: the trained one, else 10m.'),
  max_length: limitCount().optional().describe('Session: lines before a session is scored and a new one starts; none: no limit. Default: the trained one, else 256.'),
  max_open: z.number().int().positive().default(WINDOW_DEFAULTS.max_open).describe('Open windows per source; beyond it the least recently active one is scored early (never dropped). A memory guard, not part of the trained policy.'),
  time: z.enum(['event', 'arrival']).default(WINDOW_DEFAULTS.time).describe('The clock idle_timeout and max_age run on. event: log time (the line\'s header time as the format reads it, else the record\'s Forward time) plus the wall time since the source\'s last record, so a replay or a catch-up cuts the windows training cut; arrival: the wall clock when each record arrives.'),
}).strict()

const source = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'a source name: lowercase letters, digits, - and _'),
  match: oneOrMany.describe('Tag patterns (Fluent Bit style, * matches anything) routed to this source; first source wins.'),
  adapter: z.string().optional().describe('Adapter name in the bundle (default: name).'),
  message_key: oneOrMany.default(['log', 'message']).describe('Record fields holding the log line, tried in order.'),
  format: z.enum(['hdfs', 'bgl', 'thunderbird', 'generic', 'none']).default('none').describe('Header of the line, stripped before parsing as in `prepare --format` (none: the whole message is the content).'),
  log_format: z.string().optional().describe('format generic: a loghub-style header, e.g. "<Date> <Time> <Level>: <Content>".'),
  window: sourceWindow.prefault({}),
  remote: z.object({
    url: z.string().regex(/^https?:\/\//, 'an http:// or https:// URL').describe('Serves the adapter as the admin upload body: {"metadata": {...}, "safetensors": "<base64>"}. Polled with If-None-Match; a new document is validated and swapped in like an upload.'),
    interval: duration().default(60_000).describe('Time between polls.'),
    timeout: duration().default(10_000).describe('Longest wait for the response headers, and between body chunks.'),
    max_size: size().default(64 * 1024 * 1024).describe('Largest document accepted.'),
    token: z.string().optional().describe('Sent as "Authorization: Bearer <token>" (use ${ENV}).'),
  }).strict().optional().describe('Optional: fetch this source\'s adapter from a URL and hot-swap it when it changes.'),
}).strict()

/** Default limits.max_held_records as a share of max_pending_records (below the half where a paused input resumes). */
const HELD_SHARE = 0.4

export const configSchema = z.object({
  input: z.object({
    forward: forwardInput.prefault({}),
    http: httpInput.prefault({}).describe('HTTP input (JSON / NDJSON POST, for Vector); off unless enabled: true.'),
  }).strict().prefault({}),
  output: z.object({ forward: forwardOutput.prefault({}) }).strict().prefault({}),
  model: z.object({
    bundle: z.string().optional().describe('Model bundle folder (manifest.json, encoder.onnx, adapters/); a relative path is relative to the config file. Without it every record passes through unscored.'),
    execution_provider: z.enum(['cpu', 'webgpu', 'cuda']).default('cpu').describe('ONNX Runtime EP; one that cannot start falls back to CPU (logged once).'),
    threads: z.number().int().min(0).default(0).describe('Worker threads (0: cores / ort_threads).'),
    ort_threads: z.number().int().min(0).default(0).describe('ONNX Runtime intra-op threads per worker (0: 1).'),
    max_batch: z.number().int().positive().default(64).describe('Windows per ONNX run.'),
    max_wait: duration().default(2).describe('Longest a window waits for others of its source to fill a batch.'),
    max_queue: z.number().int().positive().default(16_384).describe('Windows waiting for a worker; above it input stops being read.'),
    tasks_per_thread: z.number().int().positive().default(2).describe('Batches handed to each worker thread at once: the next one starts as soon as the last ends, without waiting for the main thread.'),
    worker_nice: z.number().int().min(0).max(19).default(10).describe('How much lower than the main thread the worker threads run (niceness added, 0 to 19; a thread goes no lower than 19): the main thread, which reads, parses and acks, gets a core before scoring does.'),
    watch: z.boolean().default(true).describe('Hot-swap an adapter when its files in <bundle>/adapters change.'),
  }).strict().prefault({}),
  sources: z.array(source).default([]).describe('Which tags are scored, and how their lines are windowed.'),
  enrich: z.object({
    field: z.string().min(1).default('anomaly').describe('Map the anomaly fields go under (or their prefix when flat).'),
    flat: z.boolean().default(false).describe('true: "anomaly.score": … at the top level instead of a nested map.'),
    names: z.partialRecord(z.enum(['score', 'is_anomaly', 'threshold', 'window_id', 'window_size', 'template_id', 'template', 'new_template', 'model', 'adapter', 'top_line']), z.string().min(1)).default({}).describe('Rename fields, e.g. {score: anomaly_score}.'),
    summary_tag: z.string().min(1).nullable().default('anomaly.summary').describe('Tag of one summary event per anomalous window (null: none). The output tag rewrite applies to it too.'),
  }).strict().prefault({}),
  admin: z.object({
    enabled: z.boolean().default(true).describe('Serve health, metrics and adapter endpoints.'),
    listen: host.default('127.0.0.1').describe('Keep it on localhost unless a token is set and the port is firewalled.'),
    port: port.default(24231),
    token: z.string().min(16).optional().describe('Bearer token for POST reload and PUT upload (use ${ENV}); without it uploads are refused.'),
    max_upload: size().default(64 * 1024 * 1024).describe('Largest adapter upload.'),
  }).strict().prefault({}),
  buffer: z.object({
    enabled: z.boolean().default(false).describe('Acknowledge a chunk once it is on disk (instead of once delivered downstream), and replay what was not delivered after a restart or a crash.'),
    path: z.string().min(1).default('buffer').describe('Folder of the segment files; a relative path is relative to the config file. One sidecar per folder (locked).'),
    max_size: size().default(256 * 1024 * 1024).describe('Undelivered bytes on disk; at the limit the sidecar stops reading its sockets (backpressure), never drops.'),
    segment_size: size().default(8 * 1024 * 1024).describe('Bytes per segment file; a segment is deleted once all its records were delivered.'),
    fsync: z.enum(['always', 'interval', 'never']).default('interval').describe('always: fsync before each ack (survives power loss); interval: ack once written, fsync every fsync_interval (survives a crash of the sidecar); never.'),
    fsync_interval: duration().default(1000),
  }).strict().prefault({}),
  limits: z.object({
    max_pending_records: z.number().int().positive().default(100_000).describe('Records accepted and not yet durable downstream; above it the sidecar stops reading its sockets (backpressure reaches the senders).'),
    max_memory: size().default(0).describe('Resident memory (RSS, sampled every 250 ms) above which the sidecar stops reading its sockets until it is back under 90 %; 0: no limit. Count the model: the default one needs about 250 MB.'),
    shutdown_grace: duration().default(10_000).describe('On SIGTERM, time to deliver pending records before exit (unacked chunks are resent by their senders).'),
    max_held_records: z.number().int().positive().optional().describe(`Records held in open windows, all sources; beyond it the least recently active windows are scored early (never dropped; windows_closed_total{reason="held_limit"}). Must be below half of max_pending_records, where a paused input resumes: held records count as pending, so a larger cap could keep the input paused while windows wait for lines that cannot arrive. Default: ${HELD_SHARE * 100} % of max_pending_records.`),
  }).strict().superRefine((l, ctx) => {
    if (l.max_held_records !== undefined && l.max_held_records >= l.max_pending_records / 2) {
      ctx.addIssue({ code: 'custom', path: ['max_held_records'], message: `must be below half of limits.max_pending_records (${l.max_pending_records / 2}): the input resumes only once fewer records than that are pending, and records held in open windows are pending` })
    }
  }).transform(l => ({ ...l, max_held_records: l.max_held_records ?? Math.floor(l.max_pending_records * HELD_SHARE) })).prefault({}),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).strict().prefault({}),
}).strict()

export type Config = z.output<typeof configSchema>
export type ForwardInputConfig = Config['input']['forward']
export type ForwardOutputConfig = Config['output']['forward']
export type HttpInputConfig = Config['input']['http']
export type SourceConfig = Config['sources'][number]
