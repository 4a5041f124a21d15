"""Trainer experiments: pretrain on HDFS, transfer to small targets, Log-Attention ablation.

Run from the repository root (CPU is fine, a GPU is used when visible):

    nice python3 bench/trainer-transfer.py --work .scratch/exp [--layers 1] [--epochs 8] [--seeds 1,2,3]

Steps (each skipped when its output exists, so an interrupted run resumes):
  1. prepare HDFS (hdfs_loglead_2pct, session windows) and the targets with the HDFS embedder:
     bgl (loghub BGL_2k, sliding 20), bgl-random (bgl_random_lines_2k train+test CSV, sliding 5),
     liberty (liberty_logllm_windows message bodies, sliding 100 = the LogLLM windows, per-line labels)
  2. pretrain on HDFS with and without Log-Attention (same seed, same settings)
  3. per target and seed: adapt (frozen encoder), finetune, scratch, and scratch without Log-Attention
     (the ablation on targets whose parameters may matter); evaluate each beside the logistic-regression
     and decision-tree baselines on event counts (the same train / validation rows)
Writes WORK/results.json (every command, wall time and evaluation report) and prints Markdown tables.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

from lib.runlog import sh  # bench/lib/runlog.py (python3 puts bench/, this script's folder, on sys.path)

DATA = Path("../shared/datasets")
PY = "/usr/bin/python3"


def prepare(work: Path, log: Path) -> dict[str, Path]:
    raw, prep = work / "raw", work / "prep"
    raw.mkdir(parents=True, exist_ok=True)
    cli = ["npx", "tsx", "plugin/cli/main.ts", "prepare", "--quiet"]
    out = {k: prep / k for k in ("hdfs", "bgl", "bgl-random", "liberty")}
    if not (out["hdfs"] / "meta.json").exists():
        sh(cli + ["--format", "hdfs", "--logs", str(DATA / "hdfs_loglead_2pct/HDFS_2pct.log"),
                  "--labels", str(DATA / "hdfs_loglead_2pct/anomaly_label.csv"), "--out", str(out["hdfs"])], log)
    emb = ["--embedder", str(out["hdfs"] / "embedder.safetensors")]  # targets share the source's vector space
    if not (out["bgl"] / "meta.json").exists():
        sh(cli + ["--format", "bgl", "--logs", str(DATA / "loghub_2k/BGL/BGL_2k.log"), "--out", str(out["bgl"])] + emb, log)
    if not (out["bgl-random"] / "meta.json").exists():
        csv = raw / "bgl_random_lines.csv"  # train + test rows of the sample in one file (the header row of each is skipped)
        rows = (DATA / "bgl_random_lines_2k/train.csv").read_text().splitlines()
        rows += (DATA / "bgl_random_lines_2k/test.csv").read_text().splitlines()[1:]
        csv.write_text("\n".join(rows) + "\n")
        sh(cli + ["--format", "bgl", "--logs", str(csv), "--window-size", "5", "--out", str(out["bgl-random"])] + emb, log)
    if not (out["liberty"] / "meta.json").exists():
        tsv = (DATA / "liberty_logllm_windows/liberty_windows_lines.tsv").read_text().splitlines()[1:]
        cols = [r.split("\t", 3) for r in tsv]  # window, line, label, content
        (raw / "liberty.log").write_text("\n".join(c[3] for c in cols) + "\n")
        (raw / "liberty_labels.csv").write_text("line,label\n" + "".join(f"{i + 1},{c[2]}\n" for i, c in enumerate(cols)))
        sh(cli + ["--format", "generic", "--logs", str(raw / "liberty.log"), "--labels", str(raw / "liberty_labels.csv"),
                  "--window-size", "100", "--out", str(out["liberty"])] + emb, log)
    return out


def trainer(args: list[str], log: Path) -> float:
    return sh([PY, "-m", "models.trainer", *args], log)


def evaluate(bundle: Path, data: Path, source: str, report: Path, log: Path) -> dict:
    if not report.exists():
        trainer(["evaluate", "--bundle", str(bundle), "--data", str(data), "--source", source, "--report", str(report)], log)
    return json.loads(report.read_text())


def run(args: argparse.Namespace) -> list[dict]:
    work = args.work
    log = work / "commands.log"
    work.mkdir(parents=True, exist_ok=True)
    prep = prepare(work, log)
    fit = ["--epochs", str(args.epochs), "--seed", "42", "--threads", str(args.threads)]
    arch = ["--layers", str(args.layers)]
    bundles = work / f"bundles-{args.layers}L"
    results = []
    for name, extra in (("hdfs-la", []), ("hdfs-nola", ["--no-log-attention"])):
        out = bundles / name
        cmd = ["pretrain", "--data", str(prep["hdfs"]), "--source", "hdfs", "--out", str(out), *arch, *fit, *extra]
        wall = None if (out / "manifest.json").exists() else trainer(cmd, log)
        rep = evaluate(out, prep["hdfs"], "hdfs", out / "eval-hdfs.json", log)
        results.append({"experiment": name, "target": "hdfs", "mode": "pretrain", "seed": 42, "command": cmd, "wall_s": wall, "report": rep})
    base = bundles / "hdfs-la"
    seeds = [int(s) for s in args.seeds.split(",")]
    tfit = ["--epochs", str(args.target_epochs), "--batch-size", "16", "--patience", "5", "--threads", str(args.threads)]
    for target in args.targets.split(","):
        for seed in seeds:
            for mode in ("adapt", "finetune", "scratch", "scratch-nola"):
                out = bundles / f"{target}-{mode}-s{seed}"
                common = ["--data", str(prep[target]), "--source", target, "--seed", str(seed), "--out", str(out), *tfit]
                cmd = {"adapt": ["adapt", "--bundle", str(base)], "finetune": ["finetune", "--bundle", str(base)],
                       "scratch": ["scratch", *arch], "scratch-nola": ["scratch", *arch, "--no-log-attention"]}[mode] + common
                wall = None
                if not (out / "manifest.json").exists():
                    if out.exists():
                        shutil.rmtree(out)  # an interrupted run
                    wall = trainer(cmd, log)
                rep = evaluate(out, prep[target], target, out / f"eval-{target}.json", log)
                results.append({"experiment": f"{target}-{mode}", "target": target, "mode": mode, "seed": seed, "command": cmd,
                                "wall_s": wall, "report": rep})
    (work / f"results-{args.layers}L.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _ms(xs: list[float | None]) -> str:
    v = [x for x in xs if x is not None]
    if not v:
        return "n/a"
    return f"{v[0]:.3f}" if len(v) == 1 else f"{statistics.mean(v):.3f} ± {statistics.stdev(v):.3f}"


def table(results: list[dict]) -> str:
    """One row per (target, model); mean ± sd over seeds; baselines from the same runs' reports."""
    rows = ["| target | test windows (anom.) | model | F1 | precision | recall | ROC-AUC | LR F1 | DT F1 | trainable | train s |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        groups.setdefault((r["target"], r["experiment"]), []).append(r)
    for (target, exp), rs in groups.items():
        reps = [r["report"] for r in rs]
        t0 = reps[0]["split"]["test"]
        m = lambda k: _ms([x["model"]["test"][k] for x in reps])  # noqa: E731
        b = lambda n: _ms([x["baselines"][n].get("test", {}).get("f1") for x in reps])  # noqa: E731
        share = reps[0]["model"]["trainable_share"]
        wall = _ms([x["model"]["train_wall_s"] for x in reps])
        rows.append(f"| {target} | {t0['windows']} ({t0['anomalous']}) | {exp} ×{len(rs)} | {m('f1')} | {m('precision')} | {m('recall')} | "
                    f"{m('roc_auc')} | {b('logistic_regression')} | {b('decision_tree')} | {100 * share:.1f}% | {wall} |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path(".scratch/exp"))
    ap.add_argument("--layers", type=int, choices=(1, 2, 4), default=1)
    ap.add_argument("--epochs", type=int, default=8, help="HDFS pretraining epochs (early stopping may end sooner)")
    ap.add_argument("--target-epochs", type=int, default=20)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--targets", default="bgl,bgl-random,liberty")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    t0 = time.perf_counter()
    results = run(args)
    print(table(results))
    print(f"\ntotal wall {time.perf_counter() - t0:.0f} s; commands and logs in {args.work / 'commands.log'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
