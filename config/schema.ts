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
  tls: serverTls.prefault({}),
  security: inputSecurity.optional().describe('Secure forward (HELO/PING/PONG). Omit for none.'),
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

export const configSchema = z.object({
  input: z.object({ forward: forwardInput.prefault({}) }).strict().prefault({}),
  output: z.object({ forward: forwardOutput.prefault({}) }).strict().prefault({}),
  limits: z.object({
    max_pending_records: z.number().int().positive().default(100_000).describe('Records accepted and not yet durable downstream; above it the sidecar stops reading its sockets (backpressure reaches the senders).'),
    shutdown_grace: duration().default(10_000).describe('On SIGTERM, time to deliver pending records before exit (unacked chunks are resent by their senders).'),
  }).strict().prefault({}),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).strict().prefault({}),
}).strict()

export type Config = z.output<typeof configSchema>
export type ForwardInputConfig = Config['input']['forward']
export type ForwardOutputConfig = Config['output']['forward']
