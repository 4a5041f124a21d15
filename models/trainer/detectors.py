"""Simple detectors the model is compared against in ``evaluate`` (issue 16).

Each is fitted on the training rows the adapter used and scores windows from their
template rows alone (event counts, ``Prepared.event_counts``):

- ``logistic_regression``, ``decision_tree``: sklearn classifiers on event-count vectors
  (class_weight balanced); the tree is fitted with SEEDS random states, and its entry
  reports the spread over them.
- ``nearest_neighbor``: 1-NN on template multisets with weighted Jaccard similarity (LightAD,
  Yu et al., ICSE 2024: F1 .98 on BGL). The score s = d_normal / (d_normal + d_anomalous),
  d_c = 1 - the highest similarity to a training window of class c, ranks windows for PR-AUC
  and the threshold: 0 for a copy of a normal training window, 1 for a copy of an anomalous one.
- ``unseen_template``: a window is anomalous when it holds a template that no normal training
  window holds (Landauer et al., "A critical review of common log data sets used for evaluation
  of sequence-based anomaly detection techniques", FSE 2024: F1 .993 on BGL lines). The score is the
  share of such lines; the decision (score > 0) is fixed, not chosen on validation.

The other three take the threshold that maximises F1 on validation (metrics.best_threshold);
nothing here reads the test split before the threshold is fixed. ``run`` turns one detector
into its report entry: metrics on test and validation, the rule, fit time and scoring speed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from . import metrics
from .data import Prepared

Scorer = Callable[[np.ndarray], np.ndarray]  # rows -> one score per window, higher = more anomalous
SEEDS = 3  # random states of a seeded detector: seed, seed + 1, ...
UNSEEN_THRESHOLD = 1e-9  # below the smallest share a window can have (1 / T)
UNSEEN_RULE = "fixed: anomalous when the window holds a template unseen in normal training windows (score > 0); not chosen on validation"
SIMILARITY_CELLS = 1 << 22  # float32 cells of one [query, train, K] block: 16 MiB


class CannotFit(ValueError):
    """The training rows do not allow this detector (the reason goes into the report as ``skipped``)."""


# ---- the unseen-template rule (the trainer reuses these two for per-source decision rules) ----------------

def normal_templates(data: Prepared, train_rows: np.ndarray) -> np.ndarray:
    """[K] bool: template rows that occur in at least one normal window among ``train_rows``."""
    w = data.windows[train_rows[data.labels[train_rows] == 0]]
    known = np.zeros(data.vectors.shape[0], dtype=bool)
    known[w[w >= 0]] = True
    return known


def unseen_share(data: Prepared, rows: np.ndarray, known: np.ndarray) -> np.ndarray:
    """[len(rows)] float64: share of each window's lines whose template row is not ``known`` (0 for an empty window)."""
    w = data.windows[rows]
    lines = w >= 0
    unseen = lines & ~known[np.where(lines, w, 0)]
    return unseen.sum(axis=1) / np.maximum(lines.sum(axis=1), 1)


def unseen_template(data: Prepared, train: np.ndarray, seed: int) -> Scorer:
    if not (data.labels[train] == 0).any():
        raise CannotFit(f"the {len(train)} training windows hold no normal window: every template would be unseen")
    known = normal_templates(data, train)
    return lambda rows: unseen_share(data, rows, known)


# ---- 1-nearest-neighbour on template multisets -------------------------------------------------------------

def _blocks(a: np.ndarray, b: np.ndarray):
    """(i, j, similarity block) over ``a`` x ``b``, each block at most SIMILARITY_CELLS x K-cells of work memory."""
    sa, sb = a.sum(axis=1), b.sum(axis=1)
    K = max(a.shape[1], 1)
    bj = max(1, min(len(b), SIMILARITY_CELLS // K))
    ai = max(1, SIMILARITY_CELLS // (bj * K))
    for i in range(0, len(a), ai):
        for j in range(0, len(b), bj):
            inter = np.minimum(a[i : i + ai, None, :], b[None, j : j + bj, :]).sum(axis=2)
            union = sa[i : i + ai, None] + sb[None, j : j + bj] - inter  # sum(max) = sum(a) + sum(b) - sum(min)
            yield i, j, np.where(union > 0, inter / np.maximum(union, 1e-12), 1.0)


def weighted_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[n, m]: sum(min) / sum(max) of each row of ``a`` [n, K] against each row of ``b`` [m, K] (counts >= 0).
    Two empty windows are the same multiset: similarity 1."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    out = np.empty((len(a), len(b)), dtype=np.float32)
    for i, j, block in _blocks(a, b):
        out[i : i + block.shape[0], j : j + block.shape[1]] = block
    return out


def _nearest(queries: np.ndarray, train: np.ndarray) -> np.ndarray:
    """[n]: the highest similarity of each query to any ``train`` row, without the [n, m] matrix. Identical
    rows are compared once (HDFS: 8,281 training sessions hold 133 distinct multisets, 2,300 test sessions 18)."""
    q, back = np.unique(np.asarray(queries, dtype=np.float32), axis=0, return_inverse=True)
    best = np.full(len(q), -np.inf, dtype=np.float32)
    for i, _, block in _blocks(q, np.asarray(train, dtype=np.float32)):
        np.maximum(best[i : i + block.shape[0]], block.max(axis=1), out=best[i : i + block.shape[0]])
    return best[back.reshape(-1)]


def nearest_neighbor(data: Prepared, train: np.ndarray, seed: int) -> Scorer:
    counts = data.event_counts(train)
    y = data.labels[train].astype(bool)
    if y.all():
        raise CannotFit(f"the {len(train)} training windows hold no normal window: no distance to normal")
    normal = np.unique(counts[~y], axis=0)
    anomalous = np.unique(counts[y], axis=0) if y.any() else None

    def scores(rows: np.ndarray) -> np.ndarray:
        c = data.event_counts(rows)
        d_normal = 1.0 - _nearest(c, normal).astype(np.float64)
        if anomalous is None:  # no anomaly to be near: the distance to normal alone ranks the windows
            return d_normal
        d_anom = 1.0 - _nearest(c, anomalous).astype(np.float64)
        total = d_normal + d_anom
        return np.where(total > 0, d_normal / np.maximum(total, 1e-12), 0.5)

    return scores


# ---- sklearn classifiers on event counts -------------------------------------------------------------------

def _classifier(model, data: Prepared, train: np.ndarray) -> Scorer:
    y = data.labels[train]
    if len(train) == 0 or y.min() == y.max():
        raise CannotFit(f"the {len(train)} training windows hold one class only")
    model.fit(data.event_counts(train), y)
    # sklearn refuses 0 rows (an empty validation split)
    return lambda rows: model.predict_proba(data.event_counts(rows))[:, 1] if len(rows) else np.zeros(0)


def logistic_regression(data: Prepared, train: np.ndarray, seed: int) -> Scorer:
    return _classifier(LogisticRegression(max_iter=2000, class_weight="balanced"), data, train)


def decision_tree(data: Prepared, train: np.ndarray, seed: int) -> Scorer:
    return _classifier(DecisionTreeClassifier(class_weight="balanced", random_state=seed), data, train)


# ---- the shared runner -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Detector:
    name: str
    fit: Callable[[Prepared, np.ndarray, int], Scorer]
    about: str
    fixed_threshold: Optional[Tuple[float, str]] = None  # (threshold, rule) instead of max F1 on validation
    seeded: bool = False  # fitted with SEEDS random states; the entry reports the spread


DETECTORS = (
    Detector("logistic_regression", logistic_regression, "logistic regression on event-count vectors (class_weight balanced)"),
    Detector("decision_tree", decision_tree, "decision tree on event-count vectors (class_weight balanced)", seeded=True),
    Detector("nearest_neighbor", nearest_neighbor,
             "1-nearest-neighbour on template multisets, weighted Jaccard similarity (LightAD, Yu et al., ICSE 2024); "
             "score d_normal / (d_normal + d_anomalous)"),
    Detector("unseen_template", unseen_template,
             "a template that no normal training window holds (Landauer et al., FSE 2024); score: share of such lines",
             fixed_threshold=(UNSEEN_THRESHOLD, UNSEEN_RULE)),
)


def _once(det: Detector, data: Prepared, train: np.ndarray, val: np.ndarray, test: np.ndarray, seed: int) -> Dict[str, object]:
    t0 = time.perf_counter()
    scorer = det.fit(data, train, seed)
    fit_s = time.perf_counter() - t0
    val_scores = scorer(val)
    thr, rule = det.fixed_threshold or metrics.best_threshold(val_scores, data.labels[val])
    t0 = time.perf_counter()
    test_scores = scorer(test)
    score_s = time.perf_counter() - t0
    return {"test": metrics.report(test_scores, data.labels[test], thr), "validation": metrics.report(val_scores, data.labels[val], thr),
            "threshold_rule": rule, "fit_s": round(fit_s, 3), "score_us_per_window": round(1e6 * score_s / max(len(test), 1), 2)}


def run(det: Detector, data: Prepared, train: np.ndarray, val: np.ndarray, test: np.ndarray, seed: int) -> Dict[str, object]:
    """One detector's report entry, or ``{"skipped": reason}`` when the training rows do not allow it."""
    try:
        out = {"about": det.about, **_once(det, data, train, val, test, seed)}
        if det.seeded:
            seeds = [seed + i for i in range(SEEDS)]
            tests = [out["test"]] + [_once(det, data, train, val, test, s)["test"] for s in seeds[1:]]
            out.update(seeds=seeds, spread=metrics.spread(tests))
    except CannotFit as err:
        return {"about": det.about, "skipped": str(err)}
    return out


def run_all(data: Prepared, train: np.ndarray, val: np.ndarray, test: np.ndarray, seed: int) -> Dict[str, Dict[str, object]]:
    return {d.name: run(d, data, train, val, test, seed) for d in DETECTORS}
