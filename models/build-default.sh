#!/usr/bin/env bash
# Rebuild the bundled default model (models/default) from the shared datasets,
# on CPU (about 15 minutes on 2 cores). What it trains on and what it scores:
# models/default/README.md.
#
#   bash models/build-default.sh [WORK_DIR]     # default WORK_DIR: .scratch/default-build
#   D_MODEL=64 FFN=256 bash models/build-default.sh DIR   # another size (LAYERS, ADAPTER_SIZE too)
#   rm -rf models/default && cp -r WORK_DIR/bundle models/default
#
# 1. prepare (models/shared_datasets.py): HDFS (whole block sessions), Liberty,
#    OpenStack (raw instance sessions and AIT's sequences) and BGL, in one vector
#    space: the embedder is distilled from the training templates of the four
#    pretraining sources; BGL is left out of it, as a new source would be.
# 2. pretrain one encoder on hdfs + liberty + openstack + openstack-ait at once
#    (each keeps its own adapter, head and threshold).
# 3. adapt: BGL, a domain the encoder never saw, trains only its adapter (4.3 %).
# 4. evaluate every source beside the simple detectors.
# Splits: chronological where the data has times (hdfs, bgl, liberty: the
# network and the thresholds see only the first 80 %), seeded random where it
# does not (openstack: its file lists the anomalous instances last; the AIT
# sequences). DeepLog's HDFS sessions are not used: their anomalies include
# the 2 % sample's test blocks.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-.scratch/default-build}
PY=${PYTHON:-/usr/bin/python3}
PRE=(hdfs liberty openstack openstack-ait)
csv () { local IFS=,; echo "$*"; }
"$PY" models/shared_datasets.py --work "$WORK" --sources "$(csv "${PRE[@]}" bgl)" --vocab-from "$(csv "${PRE[@]}")" > /dev/null
P="$WORK/prep"
data=()
for s in "${PRE[@]}"; do data+=(--data "$P/$s" --source "$s"); done

rm -rf "$WORK/bundle"
"$PY" -m models.trainer pretrain "${data[@]}" --out "$WORK/bundle" \
  --layers "${LAYERS:-1}" --d-model "${D_MODEL:-128}" --ffn "${FFN:-512}" --adapter-size "${ADAPTER_SIZE:-8}" \
  --epochs 10 --seed 42 --threads 2
"$PY" -m models.trainer adapt --data "$P/bgl" --source bgl --bundle "$WORK/bundle" \
  --epochs 20 --batch-size 16 --patience 5 --seed 1 --threads 2
for s in "${PRE[@]}" bgl; do
  "$PY" -m models.trainer evaluate --bundle "$WORK/bundle" --data "$P/$s" --source "$s" \
    --report "$WORK/eval-$s.json" --threads 2 > /dev/null
done
echo "bundle: $WORK/bundle ($(du -sh "$WORK/bundle" | cut -f1)); reports: $WORK/eval-*.json" >&2
