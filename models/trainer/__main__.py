"""Command line: ``python3 -m models.trainer <mode> [options]`` (run from the repository root).

Progress goes to stderr through ``logging``; the result (a JSON object: the
training summary, or the evaluation report) goes to stdout, so scripts read
stdout and people read both. On a terminal, training and scoring also draw
tqdm bars on stderr (train.py: ``progress``); in pipes and CI logs they do
not. Exit codes: 0 ok, 2 bad usage, 65 the data or the bundle does not fit
(message says why), 1 anything else (matplotlib missing for --html included).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import torch

from . import modes
from .bundle import BundleError
from .data import PreparedDataError
from .report import ReportDependencyError
from .safetensors import SafetensorsError
from .train import FitOptions

log = logging.getLogger("models.trainer")

MODES = {
    "pretrain": "train encoder + per-source tensors on the source domain; writes a new bundle",
    "adapt": "frozen encoder from --bundle; train only the target's per-source tensors (adapter) and add them to the bundle",
    "finetune": "baseline: all weights from --bundle's encoder, trained on the target; writes a new bundle",
    "scratch": "baseline: the same architecture from random init on the target only; writes a new bundle",
    "evaluate": "test-split precision / recall / F1 / ROC-AUC / PR-AUC of a bundle's source, beside simple detectors "
                "(logistic regression, decision tree, 1-nearest-neighbour, unseen template)",
}


def _positive(v: str) -> int:
    n = int(v)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return n


def _common(p: argparse.ArgumentParser, several: bool = False) -> None:
    if several:  # pretrain: one encoder on several sources
        p.add_argument("--data", type=Path, required=True, action="append",
                       help="prepared folder (fluent-anomaly prepare --out); repeat with --source to pretrain on several sources at once")
        p.add_argument("--source", required=True, action="append",
                       help="source name in the bundle (e.g. hdfs, bgl), one per --data, in the same order; names the adapter files")
    else:
        p.add_argument("--data", type=Path, required=True, help="prepared folder (fluent-anomaly prepare --out)")
        p.add_argument("--source", required=True, help="source name in the bundle (e.g. hdfs, bgl); names the adapter files")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: cuda when visible (bf16 autocast), else cpu (fp32)")
    p.add_argument("--seed", type=int, default=42, help="seeds python, numpy, torch and the batch order (default 42)")
    p.add_argument("--threads", type=_positive, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


def _fit(p: argparse.ArgumentParser, lr: float) -> None:
    p.add_argument("--epochs", type=_positive, default=10, help="most epochs (default 10)")
    p.add_argument("--batch-size", type=_positive, default=64)
    p.add_argument("--lr", type=float, default=lr, help=f"OneCycle peak learning rate (default {lr})")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay on matrices (default 0.01)")
    p.add_argument("--patience", type=_positive, default=3, help="stop after this many epochs without a lower validation loss")
    p.add_argument("--la-lr-scale", type=float, default=10.0, help="learning-rate multiplier of the Log-Attention scalars (default 10)")
    p.add_argument("--pos-weight", default="balanced",
                   help="BCE weight of anomalous windows: balanced (normal / anomalous, default), sqrt, none, or a number")
    p.add_argument("--sampling", choices=("sqrt", "uniform"), default="sqrt",
                   help="sqrt: identical template multisets drawn by the square root of their number, so rare patterns are learnt "
                        "(default); uniform: a plain shuffle")
    p.add_argument("--train-size", type=_positive, default=None, help="use only the first N training windows (earliest in time)")


def _arch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--d-model", type=_positive, default=512, help="model width, divisible by 8 heads (default 512)")
    p.add_argument("--ffn", type=_positive, default=2048, help="feed-forward width (default 2048 = 4 x d_model)")
    p.add_argument("--layers", type=int, choices=(1, 2, 4), default=2, help="encoder layers (default 2)")
    p.add_argument("--adapter-size", type=_positive, default=64, help="adapter bottleneck m (default 64: ~4%% trainable at d 512, ffn 2048)")
    p.add_argument("--max-len", type=_positive, default=512, help="longest window the positions cover (default 512)")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--no-log-attention", action="store_true", help="ablation: no parameter-bucket bias in attention")
    p.add_argument("--pooling", choices=("attention", "mean"), default="attention",
                   help="attention: a learnt query per source weighs the lines (default); mean: the masked mean of earlier bundles (ablation)")
    p.add_argument("--no-count-features", action="store_true",
                   help="ablation: lines do not carry their template's count and the window length")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python3 -m models.trainer", description="fluent-anomaly trainer (TransLog / LogFormer)")
    sub = ap.add_subparsers(dest="mode", required=True, metavar="MODE")
    for mode, text in MODES.items():
        p = sub.add_parser(mode, help=text, description=text)
        _common(p, several=mode == "pretrain")
        if mode == "evaluate":
            p.add_argument("--bundle", type=Path, required=True, action="append",
                           help="bundle to evaluate; give it again for the same source trained with other seeds: the report's "
                                "model_seeds holds each one's metrics and their mean and sd; model, --scores and --html use the first")
            p.add_argument("--report", type=Path, default=None, help="also write the JSON report here (everything --html shows)")
            p.add_argument("--html", type=Path, default=None,
                           help="also write a self-contained HTML report (inline SVG plots: precision-recall curve, score "
                                "histogram per class, confusion matrix, templates over-represented in anomalous windows); needs matplotlib")
            p.add_argument("--scores", type=Path, default=None,
                           help="also write every window's score as JSON lines (row, split, key, first_line, last_line, size, label, score, "
                                "is_anomaly): what the sidecar should answer for the same window")
            continue
        _fit(p, lr=1e-3 if mode == "adapt" else 3e-4)
        if mode in ("pretrain", "scratch"):
            _arch(p)
            p.add_argument("--out", type=Path, required=True, help="bundle folder to write")
        else:
            p.add_argument("--bundle", type=Path, required=True, help="bundle with the pretrained encoder")
            p.add_argument("--init-from", default=None, help="source whose adapters and layer norms start the target's "
                           "(default: the source the encoder was pretrained on; 'fresh' for identity adapters); head starts fresh")
            p.add_argument("--out", type=Path, required=mode == "finetune",
                           help="bundle folder to write" + (" (default: add to --bundle in place)" if mode == "adapt" else ""))
    return ap


def run(args: argparse.Namespace) -> dict:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = modes.pick_device(args.device)
    sources = [modes.check_source_name(s) for s in (args.source if isinstance(args.source, list) else [args.source])]
    source = sources[0]
    if args.mode == "evaluate":
        from .evaluate import evaluate, table, write_report
        from .report import require_matplotlib, write_html

        if args.html is not None:
            require_matplotlib()  # before the scoring, not after it
        modes.seed_everything(args.seed)  # --seed also seeds the decision tree (seed, seed + 1, seed + 2)
        report = evaluate(args.bundle, args.data, source, device, args.seed, scores_path=args.scores)
        print(table(report), file=sys.stderr)
        if args.html is not None:
            report["html"] = str(args.html)
            write_html(report, args.html)
            log.info("wrote %s", args.html)
        if args.report is not None:
            write_report(report, args.report)
        return report
    opts = FitOptions(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                      patience=args.patience, train_size=args.train_size, seed=args.seed, la_lr_scale=args.la_lr_scale,
                      pos_weight=args.pos_weight, sampling=args.sampling)
    if args.mode in ("pretrain", "scratch"):
        arch = {"d_model": args.d_model, "ffn": args.ffn, "layers": args.layers, "adapter_size": args.adapter_size,
                "max_len": args.max_len, "dropout": args.dropout, "log_attention": not args.no_log_attention,
                "pooling": args.pooling, "count_features": not args.no_count_features}
        data = args.data if isinstance(args.data, list) else [args.data]
        return modes.train_new_encoder(args.mode, data, sources, args.out, arch, opts, device)
    if args.mode == "finetune":
        return modes.finetune(args.data, source, args.bundle, args.out, args.init_from, opts, device)
    return modes.adapt(args.data, source, args.bundle, args.out, args.init_from, opts, device)


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        result = run(args)
    except (BundleError, PreparedDataError, SafetensorsError, ValueError, FileNotFoundError) as err:
        log.error("%s", err)
        log.debug("where it was raised", exc_info=True)
        return 65
    except ReportDependencyError as err:
        log.error("%s", err)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
