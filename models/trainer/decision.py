"""The decision rule a source ships with, chosen on validation only (issue 16).

No single detector wins everywhere: on BGL-like logs a template never seen in a
normal training window is itself the strongest signal (Landauer et al., FSE
2024), on HDFS the model's score is. So each adapter records one rule, and the
sidecar applies it (plugin/scoring/stage.ts):

    model                      anomalous when score >= threshold
    unseen_template            anomalous when the window holds a template that no
                               normal training window holds (one missing from
                               ``normal_templates``); the score is still reported
    model_or_unseen_template   either of the two

``normal_templates`` (the adapter json's, beside ``decision``): template id (the
ids the sidecar's parser gives) -> share of the normal training windows that
hold it. Besides the rule, the sidecar names ``top_line`` with it: the line of
the window's least common template, the model's contribution breaking ties.
Why not the contribution alone: it splits the logit exactly, but the model
spreads a window's evidence over the lines that summarise it (on HDFS the
session's first lines took the largest share in most anomalous windows),
while an SRE wants the line a normal window would not have: of the 5 anomalous
HDFS test windows holding an exception line (other than "Got exception while
serving", which 22 % of normal sessions hold), the bundled model's largest
contribution named it in 0, the rarest template in 5, occlusion (the template
whose lines, masked, lower the logit most) in 5 (bench/RESULTS.md).

Another rule than the model is taken only when it beats the model alone on the
validation slice (higher F1, then fewer false alarms); the threshold stays the
model's. With no anomalous validation window there is nothing to choose on:
the model alone.
"""
from __future__ import annotations

import json
import logging
from typing import Dict, List

import numpy as np

from . import detectors, metrics
from .data import Prepared

log = logging.getLogger(__name__)

RULES = ("model", "unseen_template", "model_or_unseen_template")  # in order of preference on a tie


def template_ids(data: Prepared) -> List[str]:
    """templates.jsonl's ids by row (the sidecar's template ids)."""
    path = data.path / "templates.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    ids = [""] * data.vectors.shape[0]
    for r in rows:
        ids[int(r["row"])] = str(r["id"])
    return ids


def normal_template_shares(data: Prepared, train_rows: np.ndarray) -> Dict[str, float]:
    """Template id -> share of the normal training windows holding it (templates only in anomalous or later windows: absent)."""
    normal = train_rows[data.labels[train_rows] == 0]
    df = np.zeros(data.vectors.shape[0])
    for w in data.windows[normal]:
        df[np.unique(w[w >= 0])] += 1
    ids = template_ids(data)
    return {ids[r]: round(float(df[r] / len(normal)), 6) for r in np.flatnonzero(df)}


def decide(rule: str, scores: np.ndarray, unseen: np.ndarray, threshold: float) -> np.ndarray:
    """[n] bool: the rule's decision for windows with these model scores and unseen-template flags."""
    model = scores >= threshold
    if rule == "model":
        return model
    if rule == "unseen_template":
        return unseen.copy()
    if rule == "model_or_unseen_template":
        return model | unseen
    raise ValueError(f"decision rule {rule!r}: one of {', '.join(RULES)}")


def choose(data: Prepared, train_rows: np.ndarray, val_scores: np.ndarray, threshold: float) -> Dict[str, object]:
    """The adapter json's ``decision``: the rule and the validation figures it was chosen on."""
    val = data.rows("validation")
    y = data.labels[val]
    known = detectors.normal_templates(data, train_rows)
    unseen = detectors.unseen_share(data, val, known) > 0
    by_rule = {rule: metrics.confusion(decide(rule, val_scores, unseen, threshold).astype(float), y, 0.5) for rule in RULES}
    rule = "model"
    if y.any():
        rule = max(RULES, key=lambda r: (by_rule[r]["f1"], -by_rule[r]["fp"], -RULES.index(r)))
    log.info("decision rule: %s (validation F1: %s; %d templates in normal training windows)", rule,
             ", ".join(f"{r} {by_rule[r]['f1']:.3f}" for r in RULES), int(known.sum()))
    return {
        "rule": rule,
        "chosen_on": "validation",
        "validation": {k: {f: v[f] for f in ("precision", "recall", "f1", "tp", "fp", "fn")} for k, v in by_rule.items()},
    }
