"""Low-resource curve: adapter vs fine-tune vs scratch as the target's training set shrinks.

The source encoder is the bundled default model's (models/default: pretrained on HDFS, 1 layer,
d_model 128); the target is bgl-random (Loghub BGL lines sampled at random, sliding windows of 5,
prepared with the default model's embedder). For each training size (the first N training windows)
and seed: `adapt` (encoder frozen), `finetune` (all weights from the encoder), `scratch` (same
architecture, random init); each evaluated on the same test split beside the event-count baselines
fitted on the same N windows. Threshold and early stopping use the validation split only.

    nice python3 bench/trainer-lowres.py --work .scratch/lowres [--sizes 25,50,100,200,286] [--seeds 1,2,3]

Runs resume (a finished run's report is reused). Writes WORK/results.json and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

from lib.runlog import sh  # bench/lib/runlog.py (python3 puts bench/, this script's folder, on sys.path)

DATA = Path("../shared/datasets")
PY = "/usr/bin/python3"
SOURCE = Path("models/default")
MODES = ("adapt", "finetune", "scratch")


def prepare(work: Path, log: Path) -> Path:
    out = work / "prep" / "bgl-random"
    if (out / "meta.json").exists():
        return out
    csv = work / "bgl_random_lines.csv"  # the sample's train + test rows in one file (header of each skipped)
    rows = (DATA / "bgl_random_lines_2k/train.csv").read_text().splitlines()
    rows += (DATA / "bgl_random_lines_2k/test.csv").read_text().splitlines()[1:]
    csv.parent.mkdir(parents=True, exist_ok=True)
    csv.write_text("\n".join(rows) + "\n")
    sh(["npx", "tsx", "plugin/cli/main.ts", "prepare", "--quiet", "--format", "bgl", "--logs", str(csv), "--window-size", "5",
        "--embedder", str(SOURCE / "embedder.safetensors"), "--out", str(out)], log)
    return out


def run(work: Path, data: Path, mode: str, size: int, seed: int, args, log: Path) -> dict:
    name = f"{mode}-n{size}-s{seed}"
    bundle = work / "bundles" / name
    report = work / "reports" / f"{name}.json"
    if report.exists():
        return json.loads(report.read_text())
    common = ["--data", str(data), "--source", "bgl", "--seed", str(seed), "--threads", str(args.threads),
              "--train-size", str(size), "--epochs", str(args.epochs), "--batch-size", "16", "--patience", "5"]
    if mode == "scratch":
        cmd = ["scratch", *common, "--out", str(bundle), "--layers", "1", "--d-model", "128", "--ffn", "512", "--adapter-size", "16"]
    else:
        cmd = [mode, *common, "--bundle", str(SOURCE), "--out", str(bundle)]
    shutil.rmtree(bundle, ignore_errors=True)  # a run cut off before its report: train it again
    wall = sh([PY, "-m", "models.trainer", *cmd], log)
    report.parent.mkdir(parents=True, exist_ok=True)
    sh([PY, "-m", "models.trainer", "evaluate", "--bundle", str(bundle), "--data", str(data), "--source", "bgl",
        "--threads", str(args.threads), "--report", str(report)], log)
    r = json.loads(report.read_text())
    r["wall_s"] = wall
    report.write_text(json.dumps(r, indent=2))
    return r


def mean_sd(xs: list[float]) -> str:
    if not xs:
        return "n/a"
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path(".scratch/lowres"))
    ap.add_argument("--sizes", default="25,50,100,200,286")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    log = args.work / "commands.log"
    data = prepare(args.work, log)
    sizes = [int(x) for x in args.sizes.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    results = []
    for size in sizes:
        for seed in seeds:
            for mode in MODES:
                r = run(args.work, data, mode, size, seed, args, log)
                m = r["model"]
                results.append({"size": size, "seed": seed, "mode": mode, "train_used": r["split"]["train_used"],
                                "test": m["test"], "trainable_share": m["trainable_share"], "train_wall_s": m["train_wall_s"],
                                "lr": r["baselines"]["logistic_regression"].get("test"),
                                "dt": r["baselines"]["decision_tree"].get("test")})
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    split = json.loads((data / "meta.json").read_text())["split"]
    print(f"target bgl-random: validation {split['validation']['windows']} windows ({split['validation']['anomalous']} anomalous), "
          f"test {split['test']['windows']} ({split['test']['anomalous']}); seeds {args.seeds}; mean ± sd\n")
    print("| train windows (anom.) | adapt F1 | finetune F1 | scratch F1 | adapt AUC | finetune AUC | scratch AUC | LR F1 | DT F1 | train s (adapt / finetune / scratch) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        rows = [x for x in results if x["size"] == size]
        by = {mode: [x for x in rows if x["mode"] == mode] for mode in MODES}
        used = rows[0]["train_used"]
        f1 = {mode: mean_sd([x["test"]["f1"] for x in by[mode]]) for mode in MODES}
        auc = {mode: mean_sd([x["test"]["roc_auc"] for x in by[mode] if x["test"]["roc_auc"] is not None]) for mode in MODES}
        lr, dt = (by["adapt"][0][k] for k in ("lr", "dt"))
        lr_f1 = "n/a" if lr is None else f"{lr['f1']:.3f}"
        dt_f1 = "n/a" if dt is None else f"{dt['f1']:.3f}"
        secs = " / ".join(f"{statistics.mean(x['train_wall_s'] for x in by[mode]):.1f}" for mode in MODES)
        print(f"| {used['windows']} ({used['anomalous']}) | {f1['adapt']} | {f1['finetune']} | {f1['scratch']} | "
              f"{auc['adapt']} | {auc['finetune']} | {auc['scratch']} | "
              f"{lr_f1} | {dt_f1} | {secs} |")
    share = {mode: statistics.mean(x["trainable_share"] for x in results if x["mode"] == mode) for mode in MODES}
    print(f"\ntrainable share: adapt {100 * share['adapt']:.1f} %, finetune {100 * share['finetune']:.0f} %, scratch {100 * share['scratch']:.0f} %")


if __name__ == "__main__":
    main()
