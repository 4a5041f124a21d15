"""Transfer, leave one domain out: pretrain on every other labeled set, adapt to the one left out.

Run from the repository root (CPU is fine; a GPU is used when visible):

    nice python3 bench/trainer-transfer.py --work .scratch/transfer [--folds hdfs,bgl,liberty,openstack]
                                           [--seeds 1,2,3] [--lowres-sizes 100,300,1000,3000] [--report-only]

Domains and their prepared sets (models/shared_datasets.py, one policy per set):
    hdfs       hdfs (target)                         bgl        bgl, bgl-random (both targets)
    liberty    liberty (target)                      openstack  openstack (target), openstack-ait
DeepLog's HDFS sessions (hdfs-deeplog) are left out, as in the bundled model: their anomalies include the
2 % sample's test blocks, and 15,619 sessions of up to 256 lines cost more CPU than all the other sets together.
Per fold (a domain left out):
  1. prepare every set; the embedder is distilled from the pretraining sets' training templates only,
     so the left-out domain meets it as a new source would;
  2. pretrain one encoder on all the other domains' sets at once (models.trainer pretrain --data ... x N);
  3. per target and seed (batch 16 and up to 20 epochs below 1,000 training windows, else batch 64 and up to
     8), patience 5: adapt (encoder frozen, only the per-source tensors: 4.3 %), finetune (all weights
     from that encoder), scratch (same architecture, random init, target only); each evaluated on the
     target's test split beside the four simple detectors fitted on the same training rows;
  4. the hdfs fold also gives the low-resource curve: the same three modes on the first N training
     windows (--train-size) of hdfs, the detectors fitted on the same N.
Thresholds and early stopping use validation only. Runs resume (finished reports are reused).
Writes WORK/results.json and prints the Markdown tables bench/RESULTS.md records.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))
from shared_datasets import RELATED, prepare_all  # noqa: E402  models/shared_datasets.py

from lib.runlog import sh  # noqa: E402  bench/lib/runlog.py

PY = "/usr/bin/python3"
DOMAINS = {"hdfs": ["hdfs"], "bgl": ["bgl", "bgl-random"], "liberty": ["liberty"],
           "openstack": ["openstack", "openstack-ait"]}
TARGETS = {"hdfs": ["hdfs"], "bgl": ["bgl", "bgl-random"], "liberty": ["liberty"], "openstack": ["openstack"]}
MODES = ("adapt", "finetune", "scratch")
ARCH = ["--layers", "1", "--d-model", "128", "--ffn", "512", "--adapter-size", "8"]  # the bundled model's


def trainer(args: list[str], log: Path) -> float:
    return sh([PY, "-m", "models.trainer", *args], log)


def evaluate(bundle: Path, data: Path, source: str, report: Path, log: Path, threads: int) -> dict:
    if not report.exists():
        trainer(["evaluate", "--bundle", str(bundle), "--data", str(data), "--source", source, "--report", str(report),
                 "--threads", str(threads)], log)
    return json.loads(report.read_text())


def target_run(mode: str, fold_bundle: Path, data: Path, target: str, seed: int, out: Path, args, log: Path,
               train_size: int | None = None) -> tuple[list[str], float | None]:
    windows = json.loads((data / "meta.json").read_text())["split"]["train"]["windows"]
    if train_size is not None:
        windows = min(windows, train_size)
    # small targets: batch 16, up to 20 epochs; large ones (hdfs): batch 64, up to 8 (CPU time)
    epochs, batch = (args.target_epochs, 16) if windows < 1000 else (min(args.target_epochs, 8), 64)
    fit = ["--epochs", str(epochs), "--batch-size", str(batch), "--patience", "5", "--threads", str(args.threads),
           "--seed", str(seed)] + ([] if train_size is None else ["--train-size", str(train_size)])
    common = ["--data", str(data), "--source", target, "--out", str(out), *fit]
    cmd = {"adapt": ["adapt", "--bundle", str(fold_bundle)], "finetune": ["finetune", "--bundle", str(fold_bundle)],
           "scratch": ["scratch", *ARCH]}[mode] + common
    if (out / "manifest.json").exists():
        return cmd, None
    if out.exists():
        shutil.rmtree(out)  # an interrupted run
    return cmd, trainer(cmd, log)


def run(args: argparse.Namespace) -> list[dict]:
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    log = work / "commands.log"
    seeds = [int(s) for s in args.seeds.split(",")]
    results = []
    for fold in args.folds.split(","):
        left = set(DOMAINS[fold]) | {r for s in DOMAINS[fold] for r in RELATED.get(s, [])}
        pre = [s for d, sets in DOMAINS.items() if d != fold for s in sets if s not in left]
        fw = work / f"without-{fold}"
        if args.report_only:
            results += finished(fw, fold, pre, seeds, args)
            continue
        prep = prepare_all(fw, pre + TARGETS[fold], vocab_from=pre)
        bundle = fw / "bundle"
        cmd = ["pretrain", *[a for s in pre for a in ("--data", str(prep[s]), "--source", s)], "--out", str(bundle), *ARCH,
               "--epochs", str(args.epochs), "--seed", "42", "--threads", str(args.threads)]
        wall = None
        if not (bundle / "manifest.json").exists():
            if bundle.exists():
                shutil.rmtree(bundle)
            wall = trainer(cmd, log)
        results.append({"fold": fold, "experiment": "pretrain", "sources": pre, "command": cmd, "wall_s": wall})
        for target in TARGETS[fold]:
            sizes = [None] + ([int(n) for n in args.lowres_sizes.split(",")] if fold == args.lowres_fold and target == fold else [])
            for n in sizes:
                for seed in seeds:
                    for mode in MODES:
                        out = fw / "runs" / (f"{target}-{mode}-s{seed}" + ("" if n is None else f"-n{n}"))
                        cmd, wall = target_run(mode, bundle, prep[target], target, seed, out, args, log, n)
                        rep = evaluate(out, prep[target], target, out / f"eval-{target}.json", log, args.threads)
                        results.append({"fold": fold, "target": target, "mode": mode, "seed": seed, "train_size": n,
                                        "pretrained_on": pre, "command": cmd, "wall_s": wall, "report": rep})
        if not args.report_only:
            (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def finished(fw: Path, fold: str, pre: list[str], seeds: list[int], args: argparse.Namespace) -> list[dict]:
    """--report-only: the runs of a fold whose evaluation report exists; trains nothing."""
    out = []
    for target in TARGETS[fold]:
        sizes = [None] + ([int(n) for n in args.lowres_sizes.split(",")] if fold == args.lowres_fold and target == fold else [])
        for n in sizes:
            for seed in seeds:
                for mode in MODES:
                    rep = fw / "runs" / (f"{target}-{mode}-s{seed}" + ("" if n is None else f"-n{n}")) / f"eval-{target}.json"
                    if rep.exists():
                        out.append({"fold": fold, "target": target, "mode": mode, "seed": seed, "train_size": n,
                                    "pretrained_on": pre, "report": json.loads(rep.read_text())})
    return out


def _ms(xs: list) -> str:
    v = [x for x in xs if x is not None]
    if not v:
        return "n/a"
    return f"{v[0]:.3f}" if len(v) == 1 else f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}"


def _mean(xs: list) -> float | None:
    v = [x for x in xs if x is not None]
    return statistics.mean(v) if v else None


DETECTORS = ("logistic_regression", "decision_tree", "nearest_neighbor", "unseen_template")
SHORT = {"logistic_regression": "LR", "decision_tree": "DT", "nearest_neighbor": "1-NN", "unseen_template": "unseen"}


def _det(reps: list[dict], name: str, key: str = "f1") -> float | None:
    return _mean([r["baselines"][name].get("test", {}).get(key) for r in reps])


def table(results: list[dict], lowres: bool) -> str:
    """One row per (target, mode, size); mean ± sd over seeds; detectors from the same runs' reports."""
    head = ("| target | train windows (anom.) | test windows (anom.) | model | F1 | PR-AUC | ROC-AUC | "
            + " | ".join(f"{SHORT[d]} F1" for d in DETECTORS) + " | trainable | train s |")
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        if "report" in r and (r["train_size"] is not None) == lowres:
            groups.setdefault((r["target"], r["train_size"], r["mode"]), []).append(r)
    for (target, n, mode), rs in groups.items():
        reps = [r["report"] for r in rs]
        sp = reps[0]["split"]
        m = lambda k: _ms([x["model"]["test"].get(k) for x in reps])  # noqa: E731
        dets = " | ".join("n/a" if _det(reps, d) is None else f"{_det(reps, d):.3f}" for d in DETECTORS)
        wall = _ms([x["model"]["train_wall_s"] for x in reps])
        rows.append(f"| {target} | {sp['train_used']['windows']} ({sp['train_used']['anomalous']}) | {sp['test']['windows']} "
                    f"({sp['test']['anomalous']}) | {mode} ×{len(rs)} | {m('f1')} | {m('pr_auc')} | {m('roc_auc')} | {dets} | "
                    f"{100 * reps[0]['model']['trainable_share']:.1f}% | {wall} |")
    return "\n".join(rows)


def gaps(results: list[dict]) -> str:
    """The TransLog claim, per target: adapter F1 minus fine-tuning F1 (mean over seeds), full training sets."""
    by: dict[str, dict[str, list[float]]] = {}
    for r in results:
        if "report" in r and r["train_size"] is None:
            by.setdefault(r["target"], {}).setdefault(r["mode"], []).append(r["report"]["model"]["test"]["f1"])
    lines = ["| target | adapt F1 − finetune F1 | within 1 F1 point |", "|---|---|---|"]
    for t, m in by.items():
        if "adapt" in m and "finetune" in m:
            d = statistics.mean(m["adapt"]) - statistics.mean(m["finetune"])
            lines.append(f"| {t} | {d:+.3f} | {'yes' if d >= -0.01 else 'no'} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path(".scratch/transfer"))
    ap.add_argument("--folds", default="hdfs,bgl,liberty,openstack")
    ap.add_argument("--epochs", type=int, default=6, help="pretraining epochs (early stopping may end sooner)")
    ap.add_argument("--target-epochs", type=int, default=20)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--lowres-fold", default="hdfs", help="the fold whose target gets the low-resource curve")
    ap.add_argument("--lowres-sizes", default="100,300,1000,3000")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--report-only", action="store_true", help="print the tables of the runs finished so far; train nothing")
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = run(args)
    print("## Leave one domain out (full training sets)\n")
    print(table(results, lowres=False))
    print("\n" + gaps(results))
    print("\n## Low-resource curve (first N training windows)\n")
    print(table(results, lowres=True))
    print(f"\ntotal wall {time.perf_counter() - t0:.0f} s; commands and logs in {args.work / 'commands.log'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
