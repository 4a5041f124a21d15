"""``evaluate``: a bundle's source on the test split of a prepared folder, beside simple detectors.

The model is scored with the adapter's own threshold (chosen on validation at
training time). The detectors (detectors.py: logistic regression, decision tree,
1-nearest-neighbour, unseen template) are fitted on the same training rows the
adapter used (``--train-size`` included); their thresholds are max F1 on
validation, except unseen_template's fixed rule. Nothing here is tuned on the
test split.

Several bundles (the same source trained with different seeds) give the model's
spread over seeds (``model_seeds``); the first one is ``model`` and is what the
plots, ``--scores`` and ``--html`` show. Splits with fewer than
metrics.FEW_WINDOWS windows of a class add ``warnings``.

The report also holds what ``--html`` draws (report.py: precision-recall
vertices, score histogram, templates over-represented in anomalous windows),
so the JSON summary and the page never disagree.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from . import bundle as bundle_io
from . import decision, detectors, metrics
from .data import Batcher, Prepared
from .model import Encoder, SourceTensors
from .report import summarize
from .train import autocast, score

log = logging.getLogger(__name__)


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


class _Scored:
    """One bundle's source, scored on validation and test with its own threshold."""

    def __init__(self, bundle: Path, data: Prepared, source: str, device: torch.device) -> None:
        self.bundle = Path(bundle)
        self.encoder, self.manifest = bundle_io.load_encoder(bundle, device)
        self.src, self.meta = bundle_io.load_source(bundle, self.manifest, source, device)
        bundle_io.check_data_fits(self.manifest, data, bundle)
        self.batcher = Batcher(data, device)
        self.threshold = float(self.meta["threshold"])
        test, val = data.rows("test"), data.rows("validation")
        t0 = time.perf_counter()
        self.test_scores, _ = score(self.encoder, self.src, self.batcher, test, desc="test split")
        self.us_per_window = round(1e6 * (time.perf_counter() - t0) / len(test), 2)
        self.val_scores, _ = score(self.encoder, self.src, self.batcher, val, desc="validation split")
        self.test = metrics.report(self.test_scores, data.labels[test], self.threshold)
        self.validation = metrics.report(self.val_scores, data.labels[val], self.threshold)


def _shipped(run: "_Scored", data: Prepared, train: np.ndarray) -> Optional[Dict[str, object]]:
    """Test metrics under the adapter's decision rule (decision.py) when it is not the model alone."""
    rule = (run.meta.get("decision") or {}).get("rule", "model")
    if rule == "model":
        return None
    test, val = data.rows("test"), data.rows("validation")
    known = detectors.normal_templates(data, train)
    out: Dict[str, object] = {"rule": rule}
    for name, rows, scores in (("test", test, run.test_scores), ("validation", val, run.val_scores)):
        flagged = decision.decide(rule, scores, detectors.unseen_share(data, rows, known) > 0, run.threshold)
        m = metrics.confusion(flagged.astype(float), data.labels[rows], 0.5)
        out[name] = m | {"windows": int(len(rows)), "anomalous": int(data.labels[rows].sum()), "roc_auc": None, "pr_auc": None}
    return out


def _model_seeds(runs: List[_Scored]) -> Dict[str, object]:
    """Each bundle's metrics and the spread of the test metrics over them."""
    return {"runs": [{"bundle": str(r.bundle), "seed": r.meta["training"].get("seed"), "train_size": r.meta["training"].get("train_size"),
                      "threshold": r.threshold, "test": r.test, "validation": r.validation} for r in runs],
            "spread": metrics.spread([r.test for r in runs])}


def split_warnings(data: Prepared, runs: Sequence[_Scored] = ()) -> List[str]:
    """Plain sentences on what makes this report's figures fragile."""
    out = metrics.few_windows_warnings("validation", data.labels[data.rows("validation")], chooses_thresholds=True)
    out += metrics.few_windows_warnings("test", data.labels[data.rows("test")], chooses_thresholds=False)
    sizes = {r.meta["training"].get("train_size") for r in runs}
    if len(sizes) > 1:
        shown = sorted("all" if x is None else str(x) for x in sizes)
        out.append(f"the bundles were trained on different --train-size values ({', '.join(shown)}): "
                   "their spread mixes seeds and training sizes; the detectors use the first bundle's")
    return out


def evaluate(bundle: Union[Path, Sequence[Path]], data_dir: Path, source: str, device: torch.device, seed: int = 42,
             scores_path: Optional[Path] = None) -> Dict[str, object]:
    """The report of ``bundle`` (or of several bundles: the first one is ``model``, all of them ``model_seeds``)."""
    t0 = time.perf_counter()
    bundles = [Path(bundle)] if isinstance(bundle, (str, Path)) else [Path(b) for b in bundle]
    if not bundles:
        raise ValueError("evaluate needs at least one bundle")
    data = Prepared(data_dir)
    test, val = data.rows("test"), data.rows("validation")
    if len(test) == 0:
        raise ValueError(f"{data_dir}: the test split is empty")
    runs = [_Scored(b, data, source, device) for b in bundles]
    first = runs[0]
    manifest, training = first.manifest, first.meta["training"]
    train = data.rows("train", training.get("train_size"))
    sp = data.meta["split"]
    report = {
        "source": source,
        "bundle": str(first.bundle),
        "data": str(data_dir),
        "encoder_sha256": manifest["encoder"]["sha256"],
        "split": {"method": sp["method"], "seed": sp.get("seed"),
                  **{k: {"windows": int(len(data.rows(k))), "anomalous": int(data.labels[data.rows(k)].sum())} for k in ("train", "validation", "test")},
                  "train_used": {"windows": int(len(train)), "anomalous": int(data.labels[train].sum())}},
        "device": device.type,
        "model": {
            "mode": training["mode"], "layers": manifest["encoder"]["layers"], "d_model": manifest["encoder"]["d_model"],
            "log_attention": manifest["encoder"]["log_attention"]["enabled"],
            "threshold": first.threshold, "threshold_rule": first.meta.get("threshold_rule"),
            "trainable_params": training["trainable_params"], "total_params": training["total_params"],
            "trainable_share": training["trainable_share"], "train_wall_s": training["wall_s"], "train_device": training["device"],
            "epochs_run": training["epochs_run"], "best_epoch": training["best_epoch"],
            "score_us_per_window": first.us_per_window,
            "test": first.test,
            "validation": first.validation,
        },
        "baselines": detectors.run_all(data, train, val, test, seed),
        "warnings": split_warnings(data, runs),
    }
    shipped = _shipped(first, data, train)
    if shipped is not None:
        report["model"]["shipped"] = shipped
    if len(runs) > 1:
        report["model_seeds"] = _model_seeds(runs)
    report.update(summarize(data, test, first.test_scores, anomalous_contributions(first.encoder, first.src, first.batcher, test)))
    if scores_path is not None:
        all_scores, _ = score(first.encoder, first.src, first.batcher, np.arange(len(data.labels)), desc="every window")
        report["scores"] = {"file": str(scores_path), "windows": write_scores(scores_path, data, all_scores, first.threshold)}
    report["eval_wall_s"] = round(time.perf_counter() - t0, 2)
    return report


def _fmt(x: Optional[float]) -> str:
    return "  n/a" if x is None else f"{x:5.3f}"


def _spread_line(name: str, runs: str, sp: Dict[str, Dict[str, Optional[float]]]) -> str:
    parts = []
    for k, label in (("f1", "F1"), ("pr_auc", "PR-AUC"), ("roc_auc", "ROC-AUC")):
        m, sd = sp[k]["mean"], sp[k]["sd"]
        parts.append(f"{label} {_fmt(m).strip()}" + ("" if sd is None else f" ± {sd:.3f}"))
    return f"  {name} over {runs}: " + ", ".join(parts)


def table(r: Dict[str, object]) -> str:
    """A readable summary of ``evaluate``'s report: the model and every detector on the test split, then
    the seed spreads and the warnings."""
    sp = r["split"]
    lines = [
        f"source {r['source']}  test split: {sp['test']['windows']} windows ({sp['test']['anomalous']} anomalous), "
        f"split {sp['method']}; trained on {sp['train_used']['windows']} windows ({sp['train_used']['anomalous']} anomalous)",
        f"{'detector':<28} {'prec':>5} {'rec':>5} {'F1':>5} {'ROC-AUC':>7} {'PR-AUC':>7}    tp    fp    fn  {'us/win':>8}  notes",
    ]
    m = r["model"]
    rows = [(f"{m['mode']} ({m['layers']}L, d{m['d_model']}{'' if m['log_attention'] else ', no LA'})", m,
             f"trainable {m['trainable_params']:,} ({100 * m['trainable_share']:.1f}%)")]
    if "shipped" in m:
        rows.append((f"  as shipped: {m['shipped']['rule'].replace('_', ' ')}", m["shipped"], "rule chosen on validation"))
    for name, b in r["baselines"].items():
        rows.append((name.replace("_", " "), b, b.get("skipped", "")))
    for name, entry, extra in rows:
        t = entry.get("test")
        if t is None:
            lines.append(f"{name:<28} skipped: {extra}")
            continue
        us = entry.get("score_us_per_window")
        lines.append(f"{name:<28} {_fmt(t['precision'])} {_fmt(t['recall'])} {_fmt(t['f1'])} {_fmt(t['roc_auc']):>7} {_fmt(t.get('pr_auc')):>7} "
                     f"{t['tp']:5d} {t['fp']:5d} {t['fn']:5d}  {'n/a' if us is None else f'{us:8.1f}'}  {extra}".rstrip())
    if "model_seeds" in r:
        lines.append(_spread_line("model", f"{len(r['model_seeds']['runs'])} bundles", r["model_seeds"]["spread"]))
    for name, b in r["baselines"].items():
        if "spread" in b:
            lines.append(_spread_line(name.replace("_", " "), "seeds " + ", ".join(map(str, b["seeds"])), b["spread"]))
    lines += [f"warning: {w}" for w in r.get("warnings", [])]
    return "\n".join(lines)


def write_report(r: Dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r, indent=2) + "\n")
