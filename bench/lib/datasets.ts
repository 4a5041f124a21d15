/** Where the shared datasets are: FLUENT_ANOMALY_DATASETS, else ../shared/datasets beside the repo. */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const DATASETS = process.env.FLUENT_ANOMALY_DATASETS ?? resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../shared/datasets')
