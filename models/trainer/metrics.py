"""Precision / recall / F1 / ROC-AUC and the decision-threshold choice.

The threshold is chosen on the validation slice only: the one that maximises
F1 there. Among the score values that reach the best F1, the threshold is the
midpoint between the lowest score flagged and the next lower score, so a test
window scoring a hair below a validation anomaly is not missed by a rounding
accident. With no anomaly in validation, F1 is undefined: the threshold stays
0.5 and the report says so (``threshold_rule``).
"""
from __future__ import annotations

from typing import Dict

import numpy as np
from sklearn.metrics import roc_auc_score

DEFAULT_THRESHOLD = 0.5


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


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """None when only one class is present (AUC undefined)."""
    if labels.min(initial=0) == labels.max(initial=0):
        return None
    return float(roc_auc_score(labels, scores))


def report(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Dict[str, object]:
    out: Dict[str, object] = dict(confusion(scores, labels, threshold))
    out["roc_auc"] = roc_auc(scores, labels)
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
