"""Every labeled set of ../shared/datasets, prepared the one way the bundled model and the benchmarks use.

    python3 models/shared_datasets.py --work DIR --sources hdfs,liberty,... [--vocab-from hdfs,liberty,...]

writes DIR/prep/<source>/ for each source (``fluent-anomaly prepare`` output). One vector space for all
of them: the embedder is distilled once, from the training templates of the ``--vocab-from`` sources
(``prepare --embedder-also``), and every source is prepared with it; a source not in ``--vocab-from``
(a target left out of pretraining) meets the embedder as a new source would (its unknown words fall back
to subwords). Each folder's window policy is the one its data supports (models/default/README.md):

    hdfs           HDFS_v1, LogLead 2 % sample: sessions by block id, whole (idle 12 h of log time, no
                   max age: blocks live for hours, and cut sessions lose the anomaly); chronological
    hdfs-deeplog   DeepLog's HDFS template-id sessions (4,855 normal, 16,838 anomalous; random split).
                   Its anomalies include the 2 % sample's: never pretrain on it for a model tested on hdfs
    bgl            Loghub BGL_2k: sliding 20; no time limits (2,000 lines sampled over 7 months)
    bgl-random     bgl_random_lines_2k train + test CSV: sliding 5, no time limits
    liberty        LogLLM's 100 windows of 100 Liberty messages, per-line labels (no times)
    openstack      Kalaki's nova sample log: sessions by instance id, labels per instance (no times, and the
                   anomalous instances come last in the file: random split, seeded)
    openstack-ait  the same kind of instances as AIT's template-id sequences (random split). The same
                   logs as openstack: never pretrain on it for a model tested on openstack

Data: ../shared/datasets by default, relative to the repository root where it runs
(FLUENT_ANOMALY_DATASETS); each folder's SOURCE.txt says where it comes from and how to cite it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
# relative to the repository root (every command runs there), so what the bundle records names no machine
DATA = Path(os.environ.get("FLUENT_ANOMALY_DATASETS", "../shared/datasets"))
PARAM_BUCKETS = "512"  # Log-Attention buckets of the bundled model (8 heads x 512: the adapter stays under 5 %)
NO_TIME_LIMITS = ["--idle-timeout", "none", "--max-age", "none"]
# the same domain, or the same logs: a model tested on the key is never pretrained on the values
RELATED = {"hdfs": ["hdfs-deeplog"], "hdfs-deeplog": ["hdfs"], "bgl": ["bgl-random"], "bgl-random": ["bgl"],
           "openstack": ["openstack-ait"], "openstack-ait": ["openstack"]}


def _liberty(work: Path) -> List[str]:
    """liberty_windows_lines.tsv (window, line, label, content) as a log file and a by-line labels file."""
    raw = work / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rows = [r.split("\t", 3) for r in (DATA / "liberty_logllm_windows/liberty_windows_lines.tsv").read_text().splitlines()[1:]]
    (raw / "liberty.log").write_text("".join(r[3] + "\n" for r in rows))
    (raw / "liberty_labels.csv").write_text("line,label\n" + "".join(f"{i + 1},{r[2]}\n" for i, r in enumerate(rows)))
    return ["--format", "generic", "--logs", str(raw / "liberty.log"), "--labels", str(raw / "liberty_labels.csv"), "--window-size", "100"]


def recipe(name: str, work: Path) -> List[str]:
    """The prepare arguments of one source (without --out and the embedder)."""
    d = DATA
    if name == "hdfs":
        return ["--format", "hdfs", "--logs", str(d / "hdfs_loglead_2pct/HDFS_2pct.log"),
                "--labels", str(d / "hdfs_loglead_2pct/anomaly_label.csv"), "--idle-timeout", "12h", "--max-age", "none"]
    if name == "hdfs-deeplog":
        s = d / "hdfs_deeplog_sessions"
        return ["--format", "sequences", "--logs", str(s / "hdfs_train"), "--anomalous-logs", str(s / "hdfs_test_abnormal"),
                "--templates", str(s / "HDFS_templates_loghub.csv")]
    if name == "bgl":
        return ["--format", "bgl", "--logs", str(d / "loghub_2k/BGL/BGL_2k.log"), *NO_TIME_LIMITS]
    if name == "bgl-random":
        s = d / "bgl_random_lines_2k"
        return ["--format", "bgl", "--logs", str(s / "train.csv"), "--logs", str(s / "test.csv"), "--window-size", "5", *NO_TIME_LIMITS]
    if name == "liberty":
        return _liberty(work)
    if name == "openstack":
        s = d / "openstack_kalaki_raw"
        return ["--format", "generic", "--logs", str(s / "openstack-nova-sample.log"), "--log-format", "<Level> <Component> <Content>",
                "--session-key", r"\[instance: ([0-9a-f-]{36})\]", "--labels", str(s / "instance_labels.csv"), "--normal-label", "normal",
                # no timestamps, and the file lists its anomalous instances last: file order would put every one in test
                "--split", "random"]
    if name == "openstack-ait":
        s = d / "openstack_sequences_ait"
        p = s / "openstack_parisakalaki"
        return ["--format", "sequences", "--logs", str(p / "openstack_train"), "--logs", str(p / "openstack_test_normal"),
                "--anomalous-logs", str(p / "openstack_test_abnormal"), "--templates", str(s / "templates/OpenStack_templates.csv")]
    raise ValueError(f"no recipe for source {name!r}; known: {', '.join(SOURCES)}")


SOURCES = ("hdfs", "hdfs-deeplog", "bgl", "bgl-random", "liberty", "openstack", "openstack-ait")


def _prepare(args: List[str], out: Path, log) -> None:
    cmd = ["npx", "tsx", "plugin/cli/main.ts", "prepare", "--quiet", "--param-buckets", PARAM_BUCKETS, *args, "--out", str(out)]
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)


def prepare_all(work: Path, sources: List[str], vocab_from: List[str], embedder_words: int = 8000, ngrams: int = 4096) -> Dict[str, Path]:
    """DIR/prep/<source> for every source, all with one embedder distilled from ``vocab_from``'s training templates."""
    work.mkdir(parents=True, exist_ok=True)
    prep = work / "prep"
    out = {s: prep / s for s in sources}
    if all((p / "meta.json").is_file() for p in out.values()):
        return out
    with open(work / "prepare.log", "a") as log:
        # pass 0: each vocabulary source's training templates (any embedder will do to read them)
        vocab = work / "vocab"
        seed_embedder = ROOT / "models/default/embedder.safetensors"
        for s in vocab_from[1:]:
            if not (vocab / s / "meta.json").is_file():
                _prepare(recipe(s, work) + ["--embedder", str(seed_embedder)], vocab / s, log)
        # pass 1: the first vocabulary source distils the shared embedder from its own and the others' templates
        first = vocab_from[0]
        lead = prep / first
        if not (lead / "meta.json").is_file():
            also = [a for s in vocab_from[1:] for a in ("--embedder-also", str(vocab / s))]
            _prepare(recipe(first, work) + ["--embedder-words", str(embedder_words), "--embedder-ngrams", str(ngrams), *also], lead, log)
        # pass 2: everything else in that vector space
        for s, p in out.items():
            if s != first and not (p / "meta.json").is_file():
                _prepare(recipe(s, work) + ["--embedder", str(lead / "embedder.safetensors")], p, log)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--sources", required=True, help=f"comma-separated, of {', '.join(SOURCES)}")
    ap.add_argument("--vocab-from", default=None, help="sources whose training templates make the embedder (default: --sources); the first leads")
    args = ap.parse_args()
    sources = args.sources.split(",")
    vocab = args.vocab_from.split(",") if args.vocab_from else sources
    for p in prepare_all(args.work, sources, vocab).values():
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
