/**
 * limits.max_memory: above it the pipeline says `full` (the input stops
 * reading) with the reason, and 'drain' comes once memory is back under 90 %.
 * Memory is read through the injectable reader, so the test decides it.
 */
import t from 'tap'
import { Pipeline } from '../../plugin/pipeline/pipeline.js'
import { parseConfig } from '../../config/load.js'

const sink = { pending: 0, write: () => {}, close: async () => {} }
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

t.test('over max_memory the input stops; under 90 % it resumes', async t => {
  let rss = 100
  const p = new Pipeline([], sink, { maxPending: 1000, maxMemory: 1000, readMemory: () => rss })
  t.teardown(() => p.close(0))
  t.equal(p.full, false, 'under the limit')
  const events: string[] = []
  p.on('full', (_n: number, reason: string) => events.push(`full:${reason}`))
  p.on('drain', () => events.push('drain'))
  rss = 1200
  await sleep(600)
  t.equal(p.pressure(), 'limits.max_memory', 'the reason is named')
  t.ok(p.full)
  rss = 950 // under the limit but above 90 %: not yet
  await sleep(600)
  t.same(events, ['full:limits.max_memory'])
  rss = 800
  await sleep(600)
  t.same(events, ['full:limits.max_memory', 'drain'], "'drain' once under 90 %")
  t.equal(p.full, false)
})

t.test('limits.max_memory is a size in the config, 0 (off) by default', async t => {
  t.equal(parseConfig({}).limits.max_memory, 0)
  t.equal(parseConfig({ limits: { max_memory: '1G' } }).limits.max_memory, 1024 ** 3)
})
