/** The pure half of the HTTP input: body shapes and record times, as golden tables. */
import t from 'tap'
import { EventTime } from '../../plugin/forward/event-time.js'
import { bodyShape, parseRecords, parseRfc3339, recordTime } from '../../plugin/input/http-body.js'

t.test('RFC 3339 timestamps (Vector writes them to the nanosecond)', async t => {
  const table: Array<[string, [number, number] | undefined]> = [
    ['2024-01-01T00:00:00Z', [1704067200, 0]],
    ['2024-01-01T00:00:00.123456789Z', [1704067200, 123456789]],
    ['2024-01-01T00:00:00.1234567891234Z', [1704067200, 123456789]], // past nanoseconds: cut
    ['2024-01-01T00:00:00.5z', [1704067200, 500000000]],
    ['2024-01-01 00:00:00Z', [1704067200, 0]],
    ['2024-01-01T01:30:00+01:30', [1704067200, 0]],
    ['2023-12-31T19:00:00-05:00', [1704067200, 0]],
    ['2024-02-29T00:00:00Z', [1709164800, 0]],
    ['2024-02-30T00:00:00Z', undefined], // no such day
    ['2024-01-01T24:00:00Z', undefined],
    ['2024-01-01T00:00:60Z', undefined], // leap seconds: the arrival time instead
    ['2024-01-01T00:00:00', undefined], // no offset: ambiguous
    ['1969-12-31T23:59:59Z', undefined], // before the epoch: not an EventTime
    ['yesterday', undefined],
  ]
  for (const [s, want] of table) {
    const got = parseRfc3339(s)
    t.same(got === undefined ? undefined : [got.sec, got.nsec], want, s)
  }
})

t.test('record time: time_key field, else the arrival time', async t => {
  const received = new EventTime(1700000000, 42)
  t.same(recordTime({ timestamp: 1704067200 }, 'timestamp', received), 1704067200, 'integer seconds stay an integer')
  t.same(recordTime({ timestamp: 1704067200.5 }, 'timestamp', received), new EventTime(1704067200, 500000000))
  t.equal(recordTime({ ts: '2024-01-01T00:00:00Z' }, 'timestamp', received), received, 'another field')
  t.equal(recordTime({ timestamp: -1 }, 'timestamp', received), received, 'negative')
  t.equal(recordTime({ timestamp: true }, 'timestamp', received), received, 'not a time')
  t.equal(recordTime({ timestamp: 1704067200 }, null, received), received, 'time_key null')
})

t.test('body shapes, whatever the Content-Type', async t => {
  t.equal(bodyShape(undefined), 'json')
  t.equal(bodyShape('application/json; charset=utf-8'), 'json')
  t.equal(bodyShape('Application/X-NDJSON'), 'ndjson')
  t.equal(bodyShape('application/msgpack'), undefined)
  const a = { a: 1 }
  const b = { b: [2, { c: 3 }] }
  for (const prefer of ['json', 'ndjson'] as const) {
    t.same(parseRecords(JSON.stringify(a), prefer), [a], `${prefer}: one object`)
    t.same(parseRecords(JSON.stringify([a, b]), prefer), [a, b], `${prefer}: an array`)
    t.same(parseRecords(`${JSON.stringify(a)}\r\n\r\n${JSON.stringify(b)}\r\n`, prefer), [a, b], `${prefer}: NDJSON, CRLF and blank lines`)
    t.same(parseRecords(JSON.stringify(b, null, 2), prefer), [b], `${prefer}: a pretty-printed object`)
    t.same(parseRecords('[]', prefer), [], `${prefer}: an empty array is no records`)
    t.throws(() => parseRecords('{"a":1} {"b":2}', prefer), { code: 'HTTP_BAD_JSON' }, `${prefer}: two objects on one line`)
    t.throws(() => parseRecords('[{"a":1},', prefer), { code: 'HTTP_BAD_JSON', message: /not valid JSON/ }, `${prefer}: a cut array`)
    t.throws(() => parseRecords('null', prefer), { code: 'HTTP_BAD_JSON', message: /JSON null, not an object/ }, `${prefer}: null`)
    t.throws(() => parseRecords('  \n ', prefer), { code: 'HTTP_BAD_JSON', message: /empty body/ }, `${prefer}: blank`)
  }
})
