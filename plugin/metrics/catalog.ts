/**
 * Every metric the sidecar exports: name (without the `fluent_anomaly_`
 * prefix), Prometheus type, HELP text and labels, in one place. /metrics
 * takes HELP and TYPE from here; the README table is written from it.
 *
 * Most series are kept by `Counters` (plugin/events.ts) and read at scrape
 * time; the histograms and the `scoring_pool_*` / `adapter_info` /
 * `adapter_threshold` gauges are prom-client metrics of their own
 * (plugin/metrics/scoring.ts). Process metrics (CPU, resident memory, heap,
 * event loop lag, GC) are prom-client's default ones (plugin/metrics/process.ts).
 */
import { DROP_REASONS, type Labels } from '../events.js'
import type { Mode } from '../forward/protocol.js'

export const PREFIX = 'fluent_anomaly_'

export type MetricType = 'counter' | 'gauge' | 'histogram'

export interface MetricSpec {
  type: MetricType
  help: string
  labels?: readonly string[]
  /**
   * Series exported at 0 before their first event, so rate() and alert rules
   * see them from the start: fixed label sets, or 'sources' (one per scored source).
   */
  zero?: readonly Labels[] | 'sources'
}

const FORWARD_MODES: readonly Mode[] = ['message', 'forward', 'packed', 'compressed']
const NONE: readonly Labels[] = [{}]

export const CATALOG: Readonly<Record<string, MetricSpec>> = {
  // input
  records_in_total: { type: 'counter', help: 'Records taken from the inputs, by mode (Forward: message, forward, packed, compressed; http).', labels: ['mode'], zero: FORWARD_MODES.map(mode => ({ mode })) },
  records_dropped_total: { type: 'counter', help: 'Records dropped, never delivered nor retried, by reason (expected to stay 0).', labels: ['reason'], zero: DROP_REASONS.map(reason => ({ reason })) },
  forward_connections_total: { type: 'counter', help: 'Forward input connections accepted.', zero: NONE },
  forward_connections_open: { type: 'gauge', help: 'Forward input connections open now.' },
  forward_connections_refused_total: { type: 'counter', help: 'Forward input connections refused (e.g. input.forward.max_connections), by error code.', labels: ['code'] },
  forward_connection_errors_total: { type: 'counter', help: 'Forward input connections ended by an error, by error code.', labels: ['code'] },
  forward_frames_skipped_total: { type: 'counter', help: 'Forward input frames skipped as malformed or not allowed, by error code.', labels: ['code'] },
  forward_handshakes_total: { type: 'counter', help: 'Secure forward handshakes, by result (ok, refused).', labels: ['result'] },
  forward_acks_sent_total: { type: 'counter', help: 'Chunk acks written to input senders (a chunk is acked once durable or delivered).', zero: NONE },
  backpressure_engaged_total: { type: 'counter', help: 'Times a limit (max_pending_records, max_memory, buffer.max_size) paused the input.', zero: NONE },
  backpressure_released_total: { type: 'counter', help: 'Times the input resumed after being paused by a limit.', zero: NONE },
  http_requests_total: { type: 'counter', help: 'HTTP input requests answered, by status code (aborted: the sender left before the answer).', labels: ['code'] },
  http_requests_in_flight: { type: 'gauge', help: 'HTTP input requests being read or waiting for their records to be acked.' },
  http_request_bytes_total: { type: 'counter', help: 'HTTP input request body bytes read, before decompression.' },
  // pipeline and limits
  pipeline_pending_records: { type: 'gauge', help: 'Records accepted and not yet settled (delivered, or on disk with the buffer); bounded by limits.max_pending_records.' },
  memory_limit_bytes: { type: 'gauge', help: 'limits.max_memory: resident memory at which the input stops reading (0: no limit); compare with process_resident_memory_bytes.' },
  // output
  records_out_total: { type: 'counter', help: 'Records sent downstream, first attempts only (resent chunks count in output_chunks_retried_total).', zero: NONE },
  records_delivered_total: { type: 'counter', help: 'Records whose chunk the downstream acked.', zero: NONE },
  output_connects_total: { type: 'counter', help: 'Connections made to the downstream.', zero: NONE },
  output_errors_total: { type: 'counter', help: 'Downstream connection or ack failures (each followed by a retry), by error code.', labels: ['code'] },
  output_chunks_sent_total: { type: 'counter', help: 'Chunks sent downstream, first attempts.', zero: NONE },
  output_chunks_retried_total: { type: 'counter', help: 'Chunks sent again after an ack timeout or a lost connection.', zero: NONE },
  output_chunks_acked_total: { type: 'counter', help: 'Chunks acked by the downstream.', zero: NONE },
  output_pending_records: { type: 'gauge', help: 'Records in the output: open, queued or awaiting their ack.' },
  output_queued_chunks: { type: 'gauge', help: 'Sealed chunks waiting to be sent (queue depth).' },
  output_inflight_chunks: { type: 'gauge', help: 'Chunks sent and awaiting their ack (at most output.forward.max_inflight_chunks).' },
  // disk buffer (buffer.enabled only)
  buffer_bytes: { type: 'gauge', help: 'Bytes the disk buffer holds (records accepted and not yet delivered); buffer.enabled only.' },
  buffer_segments: { type: 'gauge', help: 'Segment files of the disk buffer.' },
  buffer_appended_records_total: { type: 'counter', help: 'Records written to the disk buffer.' },
  buffer_replayed_records_total: { type: 'counter', help: 'Records replayed from the disk buffer after a restart.' },
  buffer_corrupt_frames_total: { type: 'counter', help: 'Disk buffer frames skipped on replay (torn at a crash, unreadable or failing their check).' },
  buffer_write_errors_total: { type: 'counter', help: 'Failed disk buffer writes (chunks are then acked on delivery instead).' },
  // scoring (model.bundle and sources configured)
  records_scored_in_total: { type: 'counter', help: 'Records routed to a source and held for their window, by source.', labels: ['source'], zero: 'sources' },
  records_unscored_total: { type: 'counter', help: 'Records of a source passed on without a score, by source and reason.', labels: ['source', 'reason'] },
  windows_scored_total: { type: 'counter', help: 'Windows scored by the model, by source.', labels: ['source'], zero: 'sources' },
  anomalies_total: { type: 'counter', help: 'Windows the adapter\'s decision rule flags (anomaly.is_anomaly; rule model: score at or above the threshold), by source.', labels: ['source'], zero: 'sources' },
  new_templates_total: { type: 'counter', help: 'Records marked anomaly.new_template: the first record of each template the bundle\'s parser snapshot did not hold, by source.', labels: ['source'], zero: 'sources' },
  scoring_errors_total: { type: 'counter', help: 'Windows whose scoring failed (their records go on unscored), by source and error code.', labels: ['source', 'code'] },
  scoring_held_records: { type: 'gauge', help: 'Records held until their window is scored.' },
  scoring_window_records: { type: 'gauge', help: 'Records in windows still open, all sources; bounded by limits.max_held_records (beyond it the least recently active windows are scored early).' },
  windows_closed_total: { type: 'counter', help: 'Windows closed, by source and reason: idle, max_age, max_length, full (sliding), evicted (window.max_open), held_limit (limits.max_held_records), unkeyed, flush (shutdown, POST /v1/flush).', labels: ['source', 'reason'] },
  window_policy_mismatch: { type: 'gauge', help: 'Window keys a source serves differently from the policy its adapter was trained with (0: the trained windows; see the WINDOW_POLICY_MISMATCH warning at start).', labels: ['source'] },
  scoring_open_windows: { type: 'gauge', help: 'Windows open (not yet closed by size, idle timeout or age), all sources.' },
  scoring_pool_queued_windows: { type: 'gauge', help: 'Closed windows waiting for a worker batch (queue depth; bounded by model.max_queue).' },
  scoring_pool_inflight_batches: { type: 'gauge', help: 'Batches handed to worker threads now (at most model.threads × model.tasks_per_thread).' },
  scoring_pool_errors_total: { type: 'counter', help: 'Worker pool rejections, by error code (POOL_EP_FALLBACK counts once per worker).', labels: ['code'] },
  scoring_batch_duration_seconds: { type: 'histogram', help: 'Worker batch run time: from the batch being handed to a worker to its scores (successful batches).' },
  scoring_batch_queue_wait_seconds: { type: 'histogram', help: 'How long the oldest window of a batch waited in the pool queue before the batch ran (model.max_wait, or no free worker).' },
  scoring_batch_windows: { type: 'histogram', help: 'Windows per worker batch.' },
  model_execution_provider: { type: 'gauge', help: 'ONNX Runtime execution provider the workers run (value 1; label ep: cpu, cuda, webgpu).', labels: ['ep'] },
  adapter_info: { type: 'gauge', help: 'Live adapter per source (value 1; labels: version as in /v1/adapters, created as in its metadata).', labels: ['source', 'version', 'created'] },
  window_clock_resets_total: { type: 'gauge', help: 'Times a source\'s window clock started a new timeline: a line came more than the idle limit (at least 1 h) behind its log time (a replay started over, a clock put right); the open windows were scored (reason flush).', labels: ['source'] },
  adapter_version: { type: 'gauge', help: 'Sequence number of the live adapter per source (N of the version source#N; it grows at each swap).', labels: ['source'] },
  adapter_threshold: { type: 'gauge', help: 'Anomaly threshold of the live adapter per source.', labels: ['source'] },
  adapter_swaps_total: { type: 'counter', help: 'Adapters swapped in (reload, upload, watch, remote), by source.', labels: ['source'] },
  adapter_load_failures_total: { type: 'counter', help: 'Adapters refused (the previous one stays live), by source and error code.', labels: ['source', 'code'] },
  adapter_remote_failures_total: { type: 'counter', help: 'Remote adapter fetches that failed (retried next interval), by source and error code.', labels: ['source', 'code'] },
}

/** The spec of a name, or a fallback for a series no entry describes yet (typed by the `_total` convention). */
export function specOf (name: string): MetricSpec {
  return CATALOG[name] ?? { type: name.endsWith('_total') ? 'counter' : 'gauge', help: `${name} (not described in plugin/metrics/catalog.ts)` }
}
