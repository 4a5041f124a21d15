"""The training loop every mode shares.

BCE on the logit (pos_weight = normal / anomalous windows of the training rows
used), AdamW (weight decay on matrices only) with a OneCycle schedule over the
planned steps, bf16 autocast on CUDA only. After every epoch the validation
slice is scored; the epoch with the lowest validation BCE (unweighted) is kept,
and training stops after ``patience`` epochs without a lower one. The decision
threshold is the one that maximises F1 on that epoch's validation scores. The
test slice is never read here.

Why loss and not F1 for early stopping: on HDFS, validation F1 reaches 1.0
after the first epoch (40 anomalies, all ranked first), so "best F1" kept the
least trained model (test F1 0.83 vs 1.0 for a decision tree); the loss keeps
improving while the ranking is already perfect.

The Log-Attention scalars get ``la_lr_scale`` × the learning rate and no weight
decay: each is one number per (head, bucket), and a bucket (a hashed parameter
value) occurs in few windows, so at the trunk's rate they barely leave zero.

Progress: on a terminal, a tqdm bar per epoch (training batches) and per
scoring pass (validation, test); never in CI logs or pipes, where the one
``logging`` line per epoch is all there is.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from . import metrics
from .data import Batcher, Prepared
from .model import Encoder, SourceTensors

try:
    from tqdm import tqdm
except ImportError:  # bars are a nicety: a Python without tqdm ($FLUENT_ANOMALY_PYTHON) trains the same, without them
    tqdm = None

log = logging.getLogger(__name__)
T_ = TypeVar("T_")


def progress(items: Iterable[T_], total: int, desc: str) -> Iterable[T_]:
    """A bar on stderr when stderr is a terminal; the plain iterable otherwise (CI logs, pipes, captured runs)."""
    if tqdm is None:
        return items
    return tqdm(items, total=total, desc=desc, unit="batch", leave=False, file=sys.stderr, dynamic_ncols=True,
                disable=not sys.stderr.isatty())


@dataclass
class FitOptions:
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    patience: int = 3
    train_size: Optional[int] = None
    train_encoder: bool = True  # False: adapter mode, only per-source tensors move
    la_lr_scale: float = 10.0
    seed: int = 42


@dataclass
class FitResult:
    threshold: float
    threshold_rule: str
    validation: Dict[str, object]
    best_epoch: int
    epochs_run: int
    history: List[Dict[str, float]] = field(default_factory=list)
    wall_s: float = 0.0
    train_windows: int = 0
    train_anomalous: int = 0


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op context elsewhere (CPU runs stay fp32)."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


@torch.no_grad()
def score(encoder: Encoder, src: SourceTensors, batcher: Batcher, rows: np.ndarray, batch_size: int = 256,
          desc: str = "scoring") -> tuple[np.ndarray, float]:
    """(probabilities in row order, mean BCE) in eval mode, fp32 logits."""
    encoder.eval()
    out, loss_sum = [], 0.0
    for b in progress(batcher.batches(rows, batch_size), -(-len(rows) // batch_size), desc):
        with autocast(batcher.device):
            _, _, logit = encoder(b.emb, b.mask, b.buckets, src)
        logit = logit.float()
        loss_sum += float(F.binary_cross_entropy_with_logits(logit, b.labels, reduction="sum"))
        out.append(torch.sigmoid(logit).cpu().numpy())
    scores = np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
    return scores, loss_sum / max(len(rows), 1)


def fit(encoder: Encoder, src: SourceTensors, data: Prepared, device: torch.device, opts: FitOptions) -> FitResult:
    """Train in place (encoder weights if ``train_encoder``, per-source tensors always); restores the best epoch."""
    batcher = Batcher(data, device)
    train_rows = data.rows("train", opts.train_size)
    val_rows = data.rows("validation")
    if len(train_rows) == 0:
        raise ValueError(f"{data.path}: no training windows")
    if len(val_rows) == 0:
        raise ValueError(f"{data.path}: no validation windows; prepare with --val-fraction > 0")
    y_train = data.labels[train_rows]
    y_val = data.labels[val_rows]
    pos, neg = int(y_train.sum()), int(len(y_train) - y_train.sum())
    if pos == 0:
        log.warning("no anomalous window among the %d training windows: the model only sees normal data", len(train_rows))
    pos_weight = torch.tensor([neg / pos if pos else 1.0], device=device)

    for p in encoder.parameters():
        p.requires_grad_(opts.train_encoder)
    for t in src.values():
        t.requires_grad_(True)
    la = [t for k, t in src.items() if k == "log_attention"]
    decay = [t for k, t in src.items() if t.dim() >= 2 and k != "log_attention"]
    no_decay = [t for t in src.values() if t.dim() < 2]
    if opts.train_encoder:
        decay += [p for p in encoder.parameters() if p.dim() >= 2]
        no_decay += [p for p in encoder.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": opts.weight_decay, "lr": opts.lr},
              {"params": no_decay, "weight_decay": 0.0, "lr": opts.lr}]
    if la:
        groups.append({"params": la, "weight_decay": 0.0, "lr": opts.lr * opts.la_lr_scale})
    optim = torch.optim.AdamW(groups, lr=opts.lr)
    steps_per_epoch = (len(train_rows) + opts.batch_size - 1) // opts.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(
        optim, max_lr=[g["lr"] for g in groups], total_steps=max(opts.epochs * steps_per_epoch, 1), pct_start=0.1
    )
    gen = torch.Generator().manual_seed(opts.seed)
    log.info(
        "training on %d windows (%d anomalous), validating on %d (%d anomalous); %d steps/epoch, pos_weight %.1f",
        len(train_rows), pos, len(val_rows), int(y_val.sum()), steps_per_epoch, pos_weight.item(),
    )

    best_key, best = None, None
    history: List[Dict[str, float]] = []
    since_best = 0
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, opts.epochs + 1):
        encoder.train()
        loss_sum, seen = 0.0, 0
        for b in progress(batcher.batches(train_rows, opts.batch_size, gen), steps_per_epoch, f"epoch {epoch}/{opts.epochs}"):
            with autocast(device):
                _, _, logit = encoder(b.emb, b.mask, b.buckets, src)
            loss = F.binary_cross_entropy_with_logits(logit.float(), b.labels, pos_weight=pos_weight)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            loss_sum += float(loss) * len(b.labels)
            seen += len(b.labels)
        val_scores, val_loss = score(encoder, src, batcher, val_rows, desc=f"epoch {epoch} validation")
        thr, rule = metrics.best_threshold(val_scores, y_val)
        val = metrics.report(val_scores, y_val, thr)
        auc = val["roc_auc"] if val["roc_auc"] is not None else 0.0
        history.append({"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "val_loss": val_loss, "val_f1": val["f1"], "val_auc": auc})
        log.info(
            "epoch %d/%d  train loss %.4f  val loss %.4f  val F1 %.3f  val AUC %.3f  (%.1f s)",
            epoch, opts.epochs, loss_sum / max(seen, 1), val_loss, val["f1"], auc, time.perf_counter() - t0,
        )
        key = -val_loss
        if best_key is None or key > best_key:
            best_key, since_best = key, 0
            best = {
                "epoch": epoch,
                "threshold": thr,
                "rule": rule,
                "val": val,
                "src": {k: v.detach().clone() for k, v in src.items()},
                "encoder": copy.deepcopy(encoder.state_dict()) if opts.train_encoder else None,
            }
        else:
            since_best += 1
            if since_best >= opts.patience:
                log.info("early stop: no lower validation loss for %d epochs", opts.patience)
                break
    wall = time.perf_counter() - t0
    assert best is not None  # at least one epoch ran (epochs >= 1 is checked by the CLI)
    with torch.no_grad():
        for k, v in best["src"].items():
            src[k].copy_(v)
        if best["encoder"] is not None:
            encoder.load_state_dict(best["encoder"])
    for t in src.values():
        t.requires_grad_(False)
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoder.eval()
    log.info("best epoch %d (lowest val loss): val F1 %.3f at threshold %.4f (%s)", best["epoch"], best["val"]["f1"], best["threshold"], best["rule"])
    return FitResult(
        threshold=best["threshold"],
        threshold_rule=best["rule"],
        validation=best["val"],
        best_epoch=best["epoch"],
        epochs_run=epoch,
        history=history,
        wall_s=wall,
        train_windows=int(len(train_rows)),
        train_anomalous=pos,
    )
