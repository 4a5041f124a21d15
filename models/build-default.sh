#!/usr/bin/env bash
# Rebuild the bundled default model (models/default) from the shared datasets,
# on CPU, in about 3 minutes. What it trains on and what it scores:
# models/default/README.md.
#
#   bash models/build-default.sh [WORK_DIR]     # default WORK_DIR: .scratch/default-build
#   D_MODEL=64 FFN=256 bash models/build-default.sh DIR   # another size (LAYERS, ADAPTER_SIZE too)
#   rm -rf models/default && cp -r WORK_DIR/bundle models/default
#
# Chronological split everywhere (prepare's default): the network and the
# thresholds see only the first 80 % of each dataset (72 % train, 8 %
# validation); the last 20 % is the test split the README reports.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-.scratch/default-build}
DATA=${FLUENT_ANOMALY_DATASETS:-../shared/datasets}
PY=${PYTHON:-/usr/bin/python3}
cli () { npx tsx plugin/cli/main.ts "$@"; }
mkdir -p "$WORK"

# HDFS (Loghub HDFS_v1 via LogLead's 2 % sample): sessions by block id.
# A small embedder (8,000 common words + the training words, 4,096 subword rows)
# keeps the bundle at a few MB.
cli prepare --quiet --format hdfs \
  --logs "$DATA/hdfs_loglead_2pct/HDFS_2pct.log" --labels "$DATA/hdfs_loglead_2pct/anomaly_label.csv" \
  --embedder-words 8000 --embedder-ngrams 4096 --out "$WORK/prep-hdfs"
# BGL (Loghub BGL_2k): sliding windows of 20 lines, labels from the first column.
cli prepare --quiet --format bgl --logs "$DATA/loghub_2k/BGL/BGL_2k.log" \
  --embedder "$WORK/prep-hdfs/embedder.safetensors" --out "$WORK/prep-bgl"

rm -rf "$WORK/bundle"
"$PY" -m models.trainer pretrain --data "$WORK/prep-hdfs" --source hdfs --out "$WORK/bundle" \
  --layers "${LAYERS:-1}" --d-model "${D_MODEL:-128}" --ffn "${FFN:-512}" --adapter-size "${ADAPTER_SIZE:-16}" --epochs 10 --seed 42 --threads 2
"$PY" -m models.trainer adapt --data "$WORK/prep-bgl" --source bgl --bundle "$WORK/bundle" \
  --epochs 20 --batch-size 16 --patience 5 --seed 1 --threads 2
for s in hdfs bgl; do
  "$PY" -m models.trainer evaluate --bundle "$WORK/bundle" --data "$WORK/prep-$s" --source "$s" \
    --report "$WORK/eval-$s.json" > /dev/null
done
echo "bundle: $WORK/bundle ($(du -sh "$WORK/bundle" | cut -f1)); reports: $WORK/eval-*.json" >&2
