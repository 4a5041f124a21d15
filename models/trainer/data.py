"""Reading a prepared folder (plugin/prepare/write-output.ts) and batching it.

The split is meta.json's: contiguous row ranges train / validation / test
(chronological by default, as prepare recorded it). The trainer never
re-splits. ``--train-size N`` keeps the first N training windows, i.e. the
earliest N in time for a chronological split: what a new source has when it
has only been logging for a while.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

log = logging.getLogger(__name__)

REQUIRED_FILES = ("meta.json", "template_vectors.npy", "windows.npy", "param_buckets.npy", "labels.npy", "start_times.npy")
SPLITS = ("train", "validation", "test")


class PreparedDataError(ValueError):
    """The prepared folder is missing a file or its arrays disagree with meta.json."""


@dataclass
class Batch:
    emb: Tensor  # [B,T,D] f32
    mask: Tensor  # [B,T] f32
    buckets: Tensor  # [B,T,P] i32
    labels: Tensor  # [B] f32


class Prepared:
    """One prepared folder: arrays, meta and split ranges."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        missing = [f for f in REQUIRED_FILES if not (self.path / f).is_file()]
        if missing:
            raise PreparedDataError(f"{self.path}: not a prepared folder (missing {', '.join(missing)}); run `fluent-anomaly prepare`")
        self.meta = json.loads((self.path / "meta.json").read_text())
        self.vectors = np.load(self.path / "template_vectors.npy").astype(np.float32)
        self.windows = np.load(self.path / "windows.npy").astype(np.int32)
        self.buckets = np.load(self.path / "param_buckets.npy").astype(np.int32)
        self.labels = np.load(self.path / "labels.npy").astype(np.uint8)
        n = self.windows.shape[0]
        if self.buckets.shape[:2] != self.windows.shape or self.labels.shape != (n,):
            raise PreparedDataError(f"{self.path}: windows {self.windows.shape}, param_buckets {self.buckets.shape} and labels {self.labels.shape} disagree")
        if self.windows.max(initial=-1) >= self.vectors.shape[0]:
            raise PreparedDataError(f"{self.path}: a window names template row {self.windows.max()} but there are {self.vectors.shape[0]} vectors")
        self.ranges = {}
        for name in SPLITS:
            part = self.meta["split"][name]
            start, end = int(part["start"]), int(part["end"])
            if not 0 <= start <= end <= n:
                raise PreparedDataError(f"{self.path}: split {name} [{start}, {end}) is outside the {n} windows")
            self.ranges[name] = (start, end)

    @property
    def T(self) -> int:
        return int(self.windows.shape[1])

    @property
    def P(self) -> int:
        return int(self.buckets.shape[2])

    @property
    def D(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def embedder_sha256(self) -> str:
        return str(self.meta["embedder"]["sha256"])

    def rows(self, split: str, limit: Optional[int] = None) -> np.ndarray:
        start, end = self.ranges[split]
        if limit is not None:
            end = min(end, start + limit)
        return np.arange(start, end)

    def describe(self, train_size: Optional[int] = None) -> dict:
        """What the adapter json records as its training data."""
        sp = self.meta["split"]
        train_rows = self.rows("train", train_size)
        return {
            "prepared_dir": str(self.path),
            "logs": self.meta["source"]["logs"],
            "labels": self.meta["source"].get("labels"),
            "format": self.meta["format"],
            "mode": self.meta["mode"],
            "window": self.meta["window"],
            "T": self.T,
            "counts": self.meta["counts"],
            "split": {k: sp[k] for k in ("method", "seed", "test_fraction", "val_fraction")}
            | {k: {"windows": sp[k]["windows"], "anomalous": sp[k]["anomalous"]} for k in SPLITS},
            "train_used": {
                "windows": int(len(train_rows)),
                "anomalous": int(self.labels[train_rows].sum()),
                "selection": "all train windows" if train_size is None else f"first {len(train_rows)} train windows (earliest in time)",
            },
            "embedder_sha256": self.embedder_sha256,
        }

    def event_counts(self, rows: np.ndarray) -> np.ndarray:
        """[len(rows), K] count of each template row per window (the baselines' features)."""
        K = self.vectors.shape[0]
        w = self.windows[rows]
        out = np.zeros((len(rows), K), dtype=np.float32)
        r, c = np.nonzero(w >= 0)
        np.add.at(out, (r, w[r, c]), 1.0)
        return out


def duplicate_groups(windows: np.ndarray) -> np.ndarray:
    """[N] group id per window: windows with the same multiset of template rows share one (order and parameters ignored)."""
    ids: dict = {}
    out = np.empty(len(windows), dtype=np.int64)
    for i, w in enumerate(windows):
        key = np.sort(w[w >= 0]).tobytes()
        out[i] = ids.setdefault(key, len(ids))
    return out


class Batcher:
    """Batches of rows as tensors, trimmed to the longest window in the batch."""

    def __init__(self, data: Prepared, device: torch.device) -> None:
        self.data = data
        self.device = device
        self.vectors = torch.from_numpy(data.vectors)
        self.windows = torch.from_numpy(data.windows).long()
        self.buckets = torch.from_numpy(data.buckets)
        self.labels = torch.from_numpy(data.labels.astype(np.float32))

    def batch(self, rows: np.ndarray | Tensor) -> Batch:
        rows_t = torch.as_tensor(rows, dtype=torch.long)
        w = self.windows[rows_t]
        mask = w >= 0
        t = max(int(mask.sum(dim=1).max().item()), 1)  # windows are prefix-filled, padding at the end
        w, mask = w[:, :t], mask[:, :t]
        emb = self.vectors[w.clamp(min=0)] * mask.unsqueeze(-1)
        return Batch(
            emb=emb.to(self.device),
            mask=mask.float().to(self.device),
            buckets=self.buckets[rows_t][:, :t].to(self.device),
            labels=self.labels[rows_t].to(self.device),
        )

    def batches(self, rows: np.ndarray, size: int, gen: Optional[torch.Generator] = None,
                weights: Optional[np.ndarray] = None) -> Iterator[Batch]:
        """In order, or shuffled by ``gen`` (seeded) when given; with ``weights`` (one per row, needs ``gen``),
        len(rows) rows drawn with replacement in proportion to them."""
        idx = torch.as_tensor(rows, dtype=torch.long)
        if weights is not None:
            assert gen is not None, "weighted draws need a seeded generator"
            idx = idx[torch.multinomial(torch.as_tensor(weights, dtype=torch.float64), len(idx), replacement=True, generator=gen)]
        elif gen is not None:
            idx = idx[torch.randperm(len(idx), generator=gen)]
        for i in range(0, len(idx), size):
            yield self.batch(idx[i : i + size])


def positives(labels: np.ndarray) -> Tuple[int, int]:
    pos = int(labels.sum())
    return pos, int(len(labels) - pos)
