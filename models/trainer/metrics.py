"""Precision / recall / F1 / ROC-AUC / PR-AUC, the decision-threshold choice, the spread over seeds,
and the warnings about splits too small to trust.

The threshold is chosen on the validation slice only: the one that maximises
F1 there. Among the score values that reach the best F1, the threshold is the
midpoint between the lowest score flagged and the next lower score, so a test
window scoring a hair below a validation anomaly is not missed by a rounding
accident. With no anomaly in validation, F1 is undefined: the threshold stays
0.5 and the report says so (``threshold_rule``).

PR-AUC is average precision (sklearn ``average_precision_score``): the mean of the precision at each
anomalous window's rank. With a few percent anomalous windows it shows what ROC-AUC hides: a high
ROC-AUC can sit beside many false alarms per hit.
"""
from __future__ import annotations

import statistics
from typing import Dict, List, Optional, Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

DEFAULT_THRESHOLD = 0.5
# Below this many windows of a class, one window moves a split's F1 (and validation's threshold) a lot.
FEW_WINDOWS = 10


def confusion(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Dict[str, float]:
    pred = scores >= threshold
    y = labels.astype(bool)
    tp = int(np.sum(pred & y))
    fp = int(np.sum(pred & ~y))
    fn = int(np.sum(~pred & y))
    tn = int(np.sum(~pred & ~y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _one_class(labels: np.ndarray) -> bool:
    # not min(initial=0): an all-anomalous split has min 0 with it, and sklearn raises on one class
    return len(labels) == 0 or labels.min() == labels.max()


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """None when only one class is present (AUC undefined)."""
    if _one_class(labels):
        return None
    return float(roc_auc_score(labels, scores))


def pr_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Average precision; None when only one class is present (undefined without anomalies, 1 without normal windows)."""
    if _one_class(labels):
        return None
    return float(average_precision_score(labels, scores))


def report(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Dict[str, object]:
    out: Dict[str, object] = dict(confusion(scores, labels, threshold))
    out["roc_auc"] = roc_auc(scores, labels)
    out["pr_auc"] = pr_auc(scores, labels)
    out["windows"] = int(len(labels))
    out["anomalous"] = int(labels.sum())
    out["threshold"] = float(threshold)
    return out


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> tuple[float, str]:
    """(threshold maximising F1 on these scores, the rule used)."""
    y = labels.astype(bool)
    if not y.any():
        return DEFAULT_THRESHOLD, "no anomaly in validation: default 0.5"
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    tp = np.cumsum(y[order])
    k = np.arange(1, len(s) + 1)
    # only cut where the next score differs (all equal scores fall on the same side)
    last = np.r_[s[1:] != s[:-1], True]
    precision = tp / k
    recall = tp / y.sum()
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    f1 = np.where(last, f1, -1.0)
    i = int(np.argmax(f1))
    lower = s[i + 1] if i + 1 < len(s) else s[i] - 1e-6
    thr = min(max(float((s[i] + lower) / 2), 0.0), 1.0)  # a probability threshold, whatever the scores' spread
    return thr, "max F1 on validation (midpoint below the lowest flagged score)"


SPREAD_KEYS = ("f1", "pr_auc", "roc_auc")


def spread(runs: Sequence[Dict[str, object]], keys: Sequence[str] = SPREAD_KEYS) -> Dict[str, Dict[str, Optional[float]]]:
    """{key: {mean, sd, n}} over ``runs`` (metric dicts of the same split): sd is the sample standard
    deviation (None below two runs); undefined values (None) are left out and ``n`` counts the rest."""
    out: Dict[str, Dict[str, Optional[float]]] = {}
    for k in keys:
        v = [float(r[k]) for r in runs if r.get(k) is not None]
        out[k] = {"mean": statistics.mean(v) if v else None, "sd": statistics.stdev(v) if len(v) > 1 else None, "n": len(v)}
    return out


def few_windows_warnings(split: str, labels: np.ndarray, chooses_thresholds: bool) -> List[str]:
    """Plain sentences for each class with fewer than FEW_WINDOWS windows in ``split`` (validation: ``chooses_thresholds``)."""
    out = []
    for name, n in (("anomalous", int(labels.sum())), ("normal", int(len(labels) - labels.sum()))):
        if n >= FEW_WINDOWS:
            continue
        if n > 0:
            moves = "its F1 and threshold move" if chooses_thresholds else "its F1 moves"
            out.append(f"{split} holds {n} {name} window{'s' if n > 1 else ''}: {moves} a lot with one window")
        elif name == "anomalous":
            out.append(f"{split} holds no anomalous window: F1, ROC-AUC and PR-AUC are undefined there"
                       + ("; thresholds chosen on it fall back to 0.5" if chooses_thresholds else ""))
        else:
            out.append(f"{split} holds no normal window: ROC-AUC and PR-AUC are undefined there"
                       + ("; a threshold chosen on it never had to pass a normal window" if chooses_thresholds else ""))
    return out
