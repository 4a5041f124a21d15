"""``evaluate``: a bundle's source on the test split of a prepared folder, beside two baselines.

The model is scored with the adapter's own threshold (chosen on validation at
training time). The baselines see event-count vectors (how often each template
row occurs in the window), are fitted on the same training rows the adapter
used (``--train-size`` included), and get their threshold the same way: max F1
on validation. Nothing here is tuned on the test split.

The report also holds what ``--html`` draws (report.py: precision-recall
vertices, score histogram, templates over-represented in anomalous windows),
so the JSON summary and the page never disagree.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from . import bundle as bundle_io
from . import metrics
from .data import Batcher, Prepared
from .model import Encoder, SourceTensors
from .report import summarize
from .train import autocast, score

log = logging.getLogger(__name__)


def _baseline(model, data: Prepared, train: np.ndarray, val: np.ndarray, test: np.ndarray) -> Dict[str, object]:
    y_train = data.labels[train]
    if y_train.min() == y_train.max():
        return {"skipped": f"the {len(train)} training windows hold one class only"}
    t0 = time.perf_counter()
    model.fit(data.event_counts(train), y_train)
    prob = lambda rows: model.predict_proba(data.event_counts(rows))[:, 1]  # noqa: E731
    thr, rule = metrics.best_threshold(prob(val), data.labels[val])
    out = {"test": metrics.report(prob(test), data.labels[test], thr), "validation": metrics.report(prob(val), data.labels[val], thr),
           "threshold_rule": rule, "fit_s": round(time.perf_counter() - t0, 3)}
    return out


def write_scores(path: Path, data: Prepared, scores: np.ndarray, threshold: float) -> int:
    """Every window's score beside its identity in the log (``window_info.jsonl``: session key or line range)."""
    info_file = data.path / "window_info.jsonl"
    info = [json.loads(line) for line in info_file.read_text().splitlines() if line] if info_file.is_file() else []
    if info and len(info) != len(scores):
        raise ValueError(f"{info_file}: {len(info)} rows for {len(scores)} windows")
    split_of = np.empty(len(scores), dtype=object)
    for name, (start, end) in data.ranges.items():
        split_of[start:end] = name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for row, s in enumerate(scores.tolist()):
            rec = {"row": row, "split": split_of[row], **(info[row] if info else {}), "label": int(data.labels[row]),
                   "score": s, "is_anomaly": bool(s >= threshold)}
            f.write(json.dumps(rec) + "\n")
    return len(scores)


@torch.no_grad()
def anomalous_contributions(encoder: Encoder, src: SourceTensors, batcher: Batcher, rows: np.ndarray,
                            batch_size: int = 256) -> np.ndarray:
    """[K]: each template row's per-line contributions to the logit, summed over the anomalous windows among ``rows``."""
    data = batcher.data
    out = np.zeros(data.vectors.shape[0], dtype=np.float64)
    rows = rows[data.labels[rows] == 1]
    encoder.eval()
    for i in range(0, len(rows), batch_size):
        part = rows[i : i + batch_size]
        b = batcher.batch(part)
        with autocast(batcher.device):
            _, contribution, _ = encoder(b.emb, b.mask, b.buckets, src)
        c = contribution.float().cpu().numpy()
        w = data.windows[part, : c.shape[1]]
        np.add.at(out, w[w >= 0], c[w >= 0])
    return out


def evaluate(bundle: Path, data_dir: Path, source: str, device: torch.device, seed: int = 42,
             scores_path: Optional[Path] = None) -> Dict[str, object]:
    t0 = time.perf_counter()
    encoder, manifest = bundle_io.load_encoder(bundle, device)
    src, meta = bundle_io.load_source(bundle, manifest, source, device)
    data = Prepared(data_dir)
    bundle_io.check_data_fits(manifest, data, bundle)
    batcher = Batcher(data, device)
    test, val = data.rows("test"), data.rows("validation")
    if len(test) == 0:
        raise ValueError(f"{data_dir}: the test split is empty")
    thr = float(meta["threshold"])
    test_scores, _ = score(encoder, src, batcher, test, desc="test split")
    val_scores, _ = score(encoder, src, batcher, val, desc="validation split")
    training = meta["training"]
    train = data.rows("train", training.get("train_size"))
    sp = data.meta["split"]
    report = {
        "source": source,
        "bundle": str(bundle),
        "data": str(data_dir),
        "encoder_sha256": manifest["encoder"]["sha256"],
        "split": {"method": sp["method"], "seed": sp.get("seed"),
                  **{k: {"windows": int(len(data.rows(k))), "anomalous": int(data.labels[data.rows(k)].sum())} for k in ("train", "validation", "test")},
                  "train_used": {"windows": int(len(train)), "anomalous": int(data.labels[train].sum())}},
        "device": device.type,
        "model": {
            "mode": training["mode"], "layers": manifest["encoder"]["layers"], "d_model": manifest["encoder"]["d_model"],
            "log_attention": manifest["encoder"]["log_attention"]["enabled"],
            "threshold": thr, "threshold_rule": meta.get("threshold_rule"),
            "trainable_params": training["trainable_params"], "total_params": training["total_params"],
            "trainable_share": training["trainable_share"], "train_wall_s": training["wall_s"], "train_device": training["device"],
            "epochs_run": training["epochs_run"], "best_epoch": training["best_epoch"],
            "test": metrics.report(test_scores, data.labels[test], thr),
            "validation": metrics.report(val_scores, data.labels[val], thr),
        },
        "baselines": {
            "logistic_regression": _baseline(LogisticRegression(max_iter=2000, class_weight="balanced"), data, train, val, test),
            "decision_tree": _baseline(DecisionTreeClassifier(class_weight="balanced", random_state=seed), data, train, val, test),
        },
    }
    report.update(summarize(data, test, test_scores, anomalous_contributions(encoder, src, batcher, test)))
    if scores_path is not None:
        all_scores, _ = score(encoder, src, batcher, np.arange(len(data.labels)), desc="every window")
        report["scores"] = {"file": str(scores_path), "windows": write_scores(scores_path, data, all_scores, thr)}
    report["eval_wall_s"] = round(time.perf_counter() - t0, 2)
    return report


def _fmt(x: Optional[float]) -> str:
    return "  n/a" if x is None else f"{x:5.3f}"


def table(r: Dict[str, object]) -> str:
    """A readable summary of ``evaluate``'s report."""
    sp = r["split"]
    lines = [
        f"source {r['source']}  test split: {sp['test']['windows']} windows ({sp['test']['anomalous']} anomalous), "
        f"split {sp['method']}; trained on {sp['train_used']['windows']} windows ({sp['train_used']['anomalous']} anomalous)",
        f"{'model':<28} {'prec':>5} {'rec':>5} {'F1':>5} {'AUC':>5}   tp  fp  fn  trainable",
    ]
    m = r["model"]
    rows = [(f"{m['mode']} ({m['layers']}L, d{m['d_model']}{'' if m['log_attention'] else ', no LA'})", m["test"],
             f"{m['trainable_params']:,} ({100 * m['trainable_share']:.1f}%)")]
    for name, b in r["baselines"].items():
        rows.append((name.replace("_", " "), b.get("test"), b.get("skipped", "")))
    for name, t, extra in rows:
        if t is None:
            lines.append(f"{name:<28} {'':>5} {'':>5} {'':>5} {'':>5}   skipped: {extra}")
            continue
        lines.append(f"{name:<28} {_fmt(t['precision'])} {_fmt(t['recall'])} {_fmt(t['f1'])} {_fmt(t['roc_auc'])} "
                     f"{t['tp']:4d}{t['fp']:4d}{t['fn']:4d}  {extra}")
    return "\n".join(lines)


def write_report(r: Dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r, indent=2) + "\n")
