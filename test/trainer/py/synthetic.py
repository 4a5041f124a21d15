"""A synthetic prepared folder (the files plugin/prepare/write-output.ts writes), small and learnable:
anomalous windows contain template row 3; every other line is one of rows 0-2."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def make_prepared(root: Path, n: int = 240, T: int = 12, D: int = 16, P: int = 4, buckets: int = 64, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    K = 5
    vectors = rng.normal(size=(K, D)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    windows = np.full((n, T), -1, dtype=np.int32)
    pb = np.full((n, T, P), -1, dtype=np.int32)
    labels = np.zeros(n, dtype=np.uint8)
    for i in range(n):
        length = int(rng.integers(3, T + 1))
        windows[i, :length] = rng.integers(0, 3, size=length)
        if i % 4 == 0:
            windows[i, int(rng.integers(0, length))] = 3
            labels[i] = 1
        pb[i, :length, :2] = rng.integers(0, buckets, size=(length, 2))
    n_test, n_val = n // 5, n // 10
    n_train = n - n_test - n_val
    split = {
        "method": "chronological", "seed": None, "test_fraction": 0.2, "val_fraction": 0.1, "order": "time",
        "train": {"start": 0, "end": n_train, "windows": n_train, "anomalous": int(labels[:n_train].sum())},
        "validation": {"start": n_train, "end": n_train + n_val, "windows": n_val, "anomalous": int(labels[n_train:n_train + n_val].sum())},
        "test": {"start": n_train + n_val, "end": n, "windows": n_test, "anomalous": int(labels[n_train + n_val:].sum())},
    }
    meta = {
        "format_version": 1, "source": {"logs": "synthetic", "labels": None}, "format": "generic", "mode": "sliding",
        "window": {"size": T, "step": T}, "T": T, "P": P, "buckets": buckets, "param_hash": "test",
        "counts": {"windows": n, "anomalous_windows": int(labels.sum()), "templates": K}, "split": split,
        "drain": {"preset": None, "options": {}, "snapshot": "drain.json"},
        "embedder": {"sha256": "0" * 64, "dim": D, "source": "synthetic", "idf_weighting": "none"}, "files": {},
    }
    np.save(root / "template_vectors.npy", vectors)
    np.save(root / "windows.npy", windows)
    np.save(root / "param_buckets.npy", pb)
    np.save(root / "labels.npy", labels)
    np.save(root / "start_times.npy", np.arange(n, dtype=np.float64))
    (root / "meta.json").write_text(json.dumps(meta))
    (root / "embedder.safetensors").write_bytes(b"")
    return root
