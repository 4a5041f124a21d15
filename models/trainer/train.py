"""The training loop every mode shares.

BCE on the logit (pos_weight = normal / anomalous windows of the training rows
used), AdamW (weight decay on matrices only) with a OneCycle schedule over the
planned steps, bf16 autocast on CUDA only. After every epoch the validation
slice is scored; the epoch with the lowest validation BCE (unweighted) is kept,
and training stops after ``patience`` epochs without a lower one. The decision
threshold is the one that maximises F1 on that epoch's validation scores. The
test slice is never read here.

Sampling (``sampling="sqrt"``, the default): log windows repeat, and a few
patterns are most of the data (HDFS: 133 distinct template multisets among
8,281 training sessions, one of them 52 % of all). Drawn uniformly, a rare
normal pattern is a rounding error in the loss: the 14 normal HDFS sessions
with a block replication (and no invalidation) were never learnt, and their
test twins were the model's 10-12 false alarms, while a decision tree, which
isolates them in a leaf, had none. So each epoch draws as many windows as
the training set has, with replacement, each group of identical template
multisets in proportion to the square root of its size (repeat-factor
sampling, Gupta et al., LVIS, CVPR 2019; Mikolov et al.'s subsampling of
frequent words is the same idea), members of a group equally often.
``pos_weight`` is then computed on that sampled mix. ``sampling="uniform"``
is the plain shuffle.

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
from .data import Batcher, Prepared, duplicate_groups
from .model import Encoder, SourceTensors

try:
    from tqdm import tqdm
except ImportError:  # bars are a nicety: a Python without tqdm ($FLUENT_ANOMALY_PYTHON) trains the same, without them
    tqdm = None

log = logging.getLogger(__name__)
T_ = TypeVar("T_")
SMALL_CLASS = 5  # fewer validation windows of a class than this: warned


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
    pos_weight: str = "balanced"  # "balanced" (normal / anomalous), "sqrt" (its square root), "none" (1), or a number
    sampling: str = "sqrt"  # "sqrt": groups of identical template multisets drawn by sqrt(size); "uniform"


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


def sampling_weights(windows: np.ndarray, rule: str) -> Optional[np.ndarray]:
    """Per training row, its draw weight: sqrt(group size) / group size ("sqrt"), or None ("uniform")."""
    if rule == "uniform":
        return None
    if rule != "sqrt":
        raise ValueError(f"sampling {rule!r}: sqrt or uniform")
    groups = duplicate_groups(windows)
    size = np.bincount(groups)[groups].astype(np.float64)
    return 1.0 / np.sqrt(size)


def positive_weight(rule: str, pos: float, neg: float) -> float:
    """BCE weight of an anomalous window: "balanced" = neg / pos, "sqrt" = sqrt(neg / pos), "none" = 1, or a number."""
    if pos == 0:
        return 1.0
    if rule == "balanced":
        return neg / pos
    if rule == "sqrt":
        return (neg / pos) ** 0.5
    if rule == "none":
        return 1.0
    try:
        w = float(rule)
    except ValueError:
        raise ValueError(f"--pos-weight {rule!r}: balanced, sqrt, none or a positive number") from None
    if not w > 0:
        raise ValueError(f"--pos-weight {rule!r}: must be > 0")
    return w


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


@dataclass
class Task:
    """One source being trained: its prepared folder and its per-source tensors (trained in place)."""

    name: str
    data: Prepared
    src: SourceTensors


class _Part:
    """A task's rows, draw weights and loss weight for one fit."""

    def __init__(self, task: Task, device: torch.device, opts: FitOptions) -> None:
        data = task.data
        self.task, self.batcher = task, Batcher(data, device)
        self.train_rows = data.rows("train", opts.train_size)
        self.val_rows = data.rows("validation")
        where = f"{data.path}" + (f" (source {task.name})" if task.name else "")
        if len(self.train_rows) == 0:
            raise ValueError(f"{where}: no training windows")
        if len(self.val_rows) == 0:
            raise ValueError(f"{where}: no validation windows; prepare with --val-fraction > 0")
        y_train = data.labels[self.train_rows]
        self.y_val = data.labels[self.val_rows]
        self.weights = sampling_weights(data.windows[self.train_rows], opts.sampling)
        self.pos = int(y_train.sum())
        pos, neg = float(self.pos), float(len(y_train) - self.pos)
        if self.weights is not None:  # the mix the epochs really see
            pos = float((self.weights * y_train).sum() / self.weights.sum())
            neg = 1.0 - pos
        if self.pos == 0:
            log.warning("%s: no anomalous window among the %d training windows: the model only sees normal data", where, len(y_train))
        self.pos_weight = torch.tensor([positive_weight(opts.pos_weight, pos, neg)], device=device)
        val_pos = int(self.y_val.sum())
        for what, n in (("anomalous", val_pos), ("normal", len(self.y_val) - val_pos)):
            if n < SMALL_CLASS:
                log.warning("%s: validation holds %d %s windows (fewer than %d): early stopping and the decision threshold "
                            "rest on them, so expect them to move with one window; prepare with a larger --val-fraction "
                            "or more data", where, n, what, SMALL_CLASS)
        self.steps = (len(self.train_rows) + opts.batch_size - 1) // opts.batch_size
        log.info("%straining on %d windows (%d anomalous), validating on %d (%d anomalous); %d steps/epoch, pos_weight %.1f",
                 f"{task.name}: " if task.name else "", len(self.train_rows), self.pos, len(self.val_rows), val_pos,
                 self.steps, self.pos_weight.item())


def schedule(optim: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler._LRScheduler:
    """OneCycle over the planned steps, its warm-up at least 2 steps; a constant rate when there are too few steps for one.

    torch's OneCycleLR divides by (warm-up steps - 1): with 10 % warm-up, 10 planned steps (64 windows, batch 64,
    10 epochs) raised a bare ZeroDivisionError.
    """
    if total_steps < 4:
        log.warning("only %d optimizer steps planned: constant learning rate (no OneCycle schedule)", total_steps)
        return torch.optim.lr_scheduler.LambdaLR(optim, lambda _: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=[g["lr"] for g in optim.param_groups], total_steps=total_steps,
                                               pct_start=max(0.1, 2.0 / total_steps))


def fit(encoder: Encoder, src: SourceTensors, data: Prepared, device: torch.device, opts: FitOptions) -> FitResult:
    """Train in place (encoder weights if ``train_encoder``, per-source tensors always); restores the best epoch."""
    return fit_many(encoder, [Task("", data, src)], device, opts)[0]


def fit_many(encoder: Encoder, tasks: List[Task], device: torch.device, opts: FitOptions) -> List[FitResult]:
    """Train the shared encoder (if ``train_encoder``) with every task's per-source tensors; restores the best epoch.

    Each epoch runs every task's batches (one epoch of each task's training windows), interleaved in a seeded
    random order; each batch comes from one task and goes through that task's tensors. The epoch kept is the
    one with the lowest mean validation loss over the tasks; each task's threshold is chosen on its own
    validation slice at that epoch.
    """
    parts = [_Part(t, device, opts) for t in tasks]
    for p in encoder.parameters():
        p.requires_grad_(opts.train_encoder)
    all_src = [t for part in parts for t in part.task.src.values()]
    for t in all_src:
        t.requires_grad_(True)
    la = [t for part in parts for k, t in part.task.src.items() if k == "log_attention"]
    decay = [t for part in parts for k, t in part.task.src.items() if t.dim() >= 2 and k != "log_attention"]
    no_decay = [t for t in all_src if t.dim() < 2]
    if opts.train_encoder:
        decay += [p for p in encoder.parameters() if p.dim() >= 2]
        no_decay += [p for p in encoder.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": opts.weight_decay, "lr": opts.lr},
              {"params": no_decay, "weight_decay": 0.0, "lr": opts.lr}]
    if la:
        groups.append({"params": la, "weight_decay": 0.0, "lr": opts.lr * opts.la_lr_scale})
    optim = torch.optim.AdamW(groups, lr=opts.lr)
    steps_per_epoch = sum(p.steps for p in parts)
    sched = schedule(optim, opts.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(opts.seed)
    turns = torch.as_tensor(np.repeat(np.arange(len(parts)), [p.steps for p in parts]))

    best_key, best = None, None
    history: List[Dict[str, float]] = []
    since_best = 0
    t0 = time.perf_counter()
    epoch = 0
    for epoch in range(1, opts.epochs + 1):
        encoder.train()
        loss_sum, seen = 0.0, 0
        feeds = [p.batcher.batches(p.train_rows, opts.batch_size, gen, p.weights) for p in parts]
        order = turns[torch.randperm(len(turns), generator=gen)] if len(parts) > 1 else turns
        for i in progress(order.tolist(), steps_per_epoch, f"epoch {epoch}/{opts.epochs}"):
            part = parts[i]
            b = next(feeds[i])
            with autocast(device):
                _, _, logit = encoder(b.emb, b.mask, b.buckets, part.task.src)
            loss = F.binary_cross_entropy_with_logits(logit.float(), b.labels, pos_weight=part.pos_weight)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            sched.step()
            loss_sum += float(loss) * len(b.labels)
            seen += len(b.labels)
        evals = []
        for part in parts:
            val_scores, val_loss = score(encoder, part.task.src, part.batcher, part.val_rows, desc=f"epoch {epoch} validation")
            thr, rule = metrics.best_threshold(val_scores, part.y_val)
            evals.append((val_loss, thr, rule, metrics.report(val_scores, part.y_val, thr)))
        val_loss = float(np.mean([e[0] for e in evals]))
        f1 = float(np.mean([e[3]["f1"] for e in evals]))
        auc = float(np.mean([e[3]["roc_auc"] if e[3]["roc_auc"] is not None else 0.0 for e in evals]))
        entry = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "val_loss": val_loss, "val_f1": f1, "val_auc": auc}
        if len(parts) > 1:
            entry["sources"] = {p.task.name: {"val_loss": e[0], "val_f1": e[3]["f1"]} for p, e in zip(parts, evals)}
        history.append(entry)
        log.info(
            "epoch %d/%d  train loss %.4f  val loss %.4f  val F1 %.3f  val AUC %.3f  (%.1f s)%s",
            epoch, opts.epochs, loss_sum / max(seen, 1), val_loss, f1, auc, time.perf_counter() - t0,
            "  [mean over sources]" if len(parts) > 1 else "",
        )
        key = -val_loss
        if best_key is None or key > best_key:
            best_key, since_best = key, 0
            best = {
                "epoch": epoch,
                "evals": evals,
                "src": [{k: v.detach().clone() for k, v in p.task.src.items()} for p in parts],
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
        for part, kept in zip(parts, best["src"]):
            for k, v in kept.items():
                part.task.src[k].copy_(v)
        if best["encoder"] is not None:
            encoder.load_state_dict(best["encoder"])
    for t in all_src:
        t.requires_grad_(False)
    for p in encoder.parameters():
        p.requires_grad_(False)
    encoder.eval()
    out = []
    for part, (_, thr, rule, val) in zip(parts, best["evals"]):
        log.info("%sbest epoch %d (lowest val loss): val F1 %.3f at threshold %.4f (%s)",
                 f"{part.task.name}: " if part.task.name else "", best["epoch"], val["f1"], thr, rule)
        out.append(FitResult(threshold=thr, threshold_rule=rule, validation=val, best_epoch=best["epoch"], epochs_run=epoch,
                             history=history, wall_s=wall, train_windows=int(len(part.train_rows)), train_anomalous=part.pos))
    return out
