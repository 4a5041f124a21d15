"""Which line explains an anomalous window: the model's contribution, the rarest template, occlusion.

    python3 bench/trainer-explain.py --bundle models/default --data PREP --source hdfs [--splits test,validation,train]

PREP is the source prepared as the bundle was trained (``prepare --like models/default:hdfs``). For every
anomalous window that holds an exception line (a template matching /exception/i, leaving out "Got exception
while serving", which 22 % of normal HDFS sessions hold; ``--broad`` counts it too), each method names one line:
  contribution  the largest per-line contribution to the logit (the encoder's `contribution` output)
  rarest        the line of the template held by the fewest normal training windows, contribution breaking
                ties (what the sidecar's top_line does: plugin/scoring/decision.ts)
  occlusion     the template whose lines, masked out, lower the logit most (the model's own cause; one more
                encoder run per distinct template of the window)
and the script prints how often each named an exception line, per split.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.trainer import bundle as bundle_io  # noqa: E402
from models.trainer.data import Batcher, Prepared  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--splits", default="test,validation,train")
    ap.add_argument("--broad", action="store_true", help="count 'Got exception while serving' as an exception line")
    args = ap.parse_args()
    dev = torch.device("cpu")
    enc, manifest = bundle_io.load_encoder(args.bundle, dev)
    src, _ = bundle_io.load_source(args.bundle, manifest, args.source, dev)
    data = Prepared(args.data)
    batcher = Batcher(data, dev)
    texts = [json.loads(line)["text"] for line in (data.path / "templates.jsonl").read_text().splitlines() if line]
    exc = np.array([bool(re.search("exception", t, re.I)) and (args.broad or "Got exception while serving" not in t) for t in texts])
    train = data.rows("train")
    normal = train[data.labels[train] == 0]
    share = np.zeros(len(texts))
    for w in data.windows[normal]:
        share[np.unique(w[w >= 0])] += 1
    share /= max(len(normal), 1)
    print(f"{args.bundle} / {args.source}: anomalous windows holding an exception line, and how often each method names one")
    print(f"{'split':<11} {'windows':>7} {'contribution':>12} {'rarest':>7} {'occlusion':>9}")
    for split in args.splits.split(","):
        rows = data.rows(split)
        rows = rows[data.labels[rows] == 1]
        hits = {"contribution": 0, "rarest": 0, "occlusion": 0}
        n = 0
        for r in rows:
            b = batcher.batch(np.array([r]))
            T = int(b.mask.sum())
            w = data.windows[r][:T]
            if not exc[w].any():
                continue
            n += 1
            with torch.no_grad():
                _, c, logit = enc(b.emb, b.mask, b.buckets, src)
                kinds = sorted(set(w.tolist()))
                masks = b.mask.repeat(len(kinds), 1)
                for i, k in enumerate(kinds):
                    masks[i, :T][torch.as_tensor(w == k)] = 0
                _, _, masked = enc(b.emb.repeat(len(kinds), 1, 1), masks, b.buckets.repeat(len(kinds), 1, 1), src)
            c = c[0, :T].numpy()
            named = {
                "contribution": w[int(np.argmax(c))],
                "rarest": w[min(range(T), key=lambda t: (share[w[t]], -c[t]))],
                "occlusion": kinds[int(np.argmax((logit - masked).numpy()))],
            }
            for m, t in named.items():
                hits[m] += bool(exc[t])
        print(f"{split:<11} {n:>7} {hits['contribution']:>12} {hits['rarest']:>7} {hits['occlusion']:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
