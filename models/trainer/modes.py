"""The four training modes. Each ends with a bundle on disk and a summary dict.

    pretrain  random encoder + per-source tensors, all trained on the source domain → new bundle
    scratch   the same mechanics on the target's data only (baseline)               → new bundle
    finetune  encoder from --bundle, all weights trained on the target (baseline)   → new bundle (new encoder hash)
    adapt     encoder from --bundle frozen, only the target's per-source tensors    → adapter added to the bundle

adapt / finetune start the target's adapters and layer norms from --init-from
(default: the source the encoder was pretrained on), so the trunk starts as the
pretrained function. The head and the Log-Attention scalars start fresh (small
random head, zero scalars): the source's head is a confident decision for
another domain (it started BGL's training loss at ~5 instead of ~1), and bucket
ids are hashes of another domain's values. ``--init-from fresh`` also starts
the adapters (identity) and layer norms (unit) fresh.
"""
from __future__ import annotations

import logging
import random
import re
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional, Union

import numpy as np
import torch

from . import bundle as bundle_io
from . import decision
from .data import Batcher, Prepared
from .export import parity_entry, parity_rows
from .model import Encoder, ModelConfig, SourceTensors, count_params, init_source_tensors
from .train import FitOptions, FitResult, Task, fit, fit_many, score

log = logging.getLogger(__name__)


# Not carried over from --init-from: bucket ids hash another domain's values, and the source's head
# is a confident decision for another domain (it starts the target's loss at ~5 instead of ~1).
FRESH_ON_TRANSFER = ("log_attention", "head.weight", "head.bias")


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible to PyTorch")
    return torch.device(name)


def check_source_name(name: str) -> str:
    if not re.match(bundle_io.SOURCE_NAME, name):
        raise ValueError(f"--source {name!r}: use lowercase letters, digits, '-' and '_' (it names files in the bundle)")
    return name


def _share(encoder: Encoder, src: SourceTensors, encoder_trains: bool) -> dict:
    frozen, per_source = count_params(encoder, src)
    total = frozen + per_source
    trainable = total if encoder_trains else per_source
    return {"trainable_params": trainable, "total_params": total, "per_source_params": per_source,
            "trainable_share": trainable / total}


def _init_from(manifest: dict, bundle: Path, name: Optional[str], cfg: ModelConfig, gen: torch.Generator, device: torch.device) -> tuple[SourceTensors, str]:
    src = {k: v.to(device) for k, v in init_source_tensors(cfg, gen).items()}
    if name is None:
        pretrained = manifest["encoder"].get("pretrained_on")  # a name, or (several sources) a list: the first starts the target
        name = pretrained[0] if isinstance(pretrained, list) and pretrained else pretrained or None
    if name in (None, "fresh"):
        return src, "fresh"
    base, _ = bundle_io.load_source(bundle, manifest, name, device)
    for k, v in base.items():
        if k not in FRESH_ON_TRANSFER:
            src[k] = v.clone()
    return src, name


def _fit_and_describe(mode: str, encoder: Encoder, src: SourceTensors, data: Prepared, device: torch.device,
                      opts: FitOptions, share: dict, init_from: str) -> tuple[FitResult, dict]:
    log.info("%s: trainable parameters %s of %s (%.2f%%)", mode, f"{share['trainable_params']:,}",
             f"{share['total_params']:,}", 100 * share["trainable_share"])
    res = fit(encoder, src, data, device, opts)
    return res, _training(mode, encoder, res, device, opts, share, init_from)


def _training(mode: str, encoder: Encoder, res: FitResult, device: torch.device, opts: FitOptions, share: dict,
              init_from: str, pretrained_with: Optional[List[str]] = None) -> dict:
    """What an adapter's json records of how it was trained."""
    out = {
        "mode": mode, "device": device.type, "autocast": "bf16" if device.type == "cuda" else "none (fp32)",
        "seed": opts.seed, "epochs": opts.epochs, "epochs_run": res.epochs_run, "best_epoch": res.best_epoch,
        "batch_size": opts.batch_size, "lr": opts.lr, "la_lr_scale": opts.la_lr_scale, "weight_decay": opts.weight_decay, "patience": opts.patience,
        "pos_weight": opts.pos_weight, "sampling": opts.sampling,
        "train_size": opts.train_size, "train_windows": res.train_windows, "train_anomalous": res.train_anomalous,
        "wall_s": round(res.wall_s, 2), "init_from": init_from, "log_attention": encoder.cfg.log_attention,
        "pooling": encoder.cfg.pooling, "count_features": encoder.cfg.count_features,
        "history": res.history, **share,
    }
    if pretrained_with is not None:
        out["trained_with"] = pretrained_with  # every source of the joint pretraining (one shared encoder)
    return out


def _adapter_meta(source: str, manifest: dict, res: FitResult, training: dict, data: Prepared, opts: FitOptions) -> dict:
    return {
        "format_version": bundle_io.FORMAT_VERSION,
        "source": source,
        "created": bundle_io.now(),
        "encoder_sha256": manifest["encoder"]["sha256"],
        "threshold": res.threshold,
        "threshold_rule": res.threshold_rule,
        "metrics": {"validation": res.validation},
        "training": training,
        "data": data.describe(opts.train_size),
    }


def _finish(out: Path, manifest: dict, source: str, encoder: Encoder, src: SourceTensors, data: Prepared,
            device: torch.device, res: FitResult, training: dict, opts: FitOptions) -> dict:
    batcher = Batcher(data, device)
    rows = parity_rows(data.labels, data.rows("test") if len(data.rows("test")) else data.rows("validation"))
    parity = parity_entry(encoder, src, batcher, rows)
    meta = _adapter_meta(source, manifest, res, training, data, opts)
    val_scores, _ = score(encoder, src, batcher, data.rows("validation"), desc="validation (decision rule)")
    train_rows = data.rows("train", opts.train_size)
    meta["decision"] = decision.choose(data, train_rows, val_scores, res.threshold)
    meta["normal_templates"] = decision.normal_template_shares(data, train_rows)
    bundle_io.add_source(out, manifest, source, src, data, meta, parity)
    return {"bundle": str(out), "source": source, "encoder_sha256": manifest["encoder"]["sha256"], "threshold": res.threshold,
            "validation": res.validation, **{k: training[k] for k in ("mode", "device", "wall_s", "epochs_run", "best_epoch",
                                                                     "trainable_params", "total_params", "trainable_share")}}


def _same_space(datas: List[Prepared]) -> None:
    """Sources trained into one encoder must share the embedder and the Log-Attention buckets."""
    first = datas[0]
    for d in datas[1:]:
        if d.embedder_sha256 != first.embedder_sha256:
            raise bundle_io.BundleError(
                f"{d.path} was prepared with embedder {d.embedder_sha256}, {first.path} with {first.embedder_sha256}: one encoder "
                f"needs one vector space. Prepare every source with --embedder {first.path / bundle_io.EMBEDDER}")
        if (d.meta["buckets"], d.P) != (first.meta["buckets"], first.P):
            raise bundle_io.BundleError(f"{d.path}: {d.meta['buckets']} buckets x {d.P} params, {first.path}: "
                                        f"{first.meta['buckets']} x {first.P}; prepare with the same --param-buckets / --max-params")


def train_new_encoder(mode: str, data_dirs: Union[Path, List[Path]], sources: Union[str, List[str]], out: Path, cfg_args: dict, opts: FitOptions,
                      device: torch.device) -> dict:
    """pretrain and scratch: a random encoder trained with per-source tensors, one set per prepared folder.

    pretrain with several folders (``--data A --source a --data B --source b``) trains one encoder on all of
    them at once (each batch from one source, through that source's tensors: train.fit_many); every source
    ends up in the bundle with its own adapter, threshold and parser.
    """
    data_dirs = [data_dirs] if isinstance(data_dirs, (str, Path)) else list(data_dirs)
    sources = [sources] if isinstance(sources, str) else list(sources)
    if len(data_dirs) != len(sources) or not sources:
        raise ValueError(f"give one --source per --data ({len(data_dirs)} --data, {len(sources)} --source)")
    if len(set(sources)) != len(sources):
        raise ValueError(f"--source names repeat: {', '.join(sources)}")
    if mode == "scratch" and len(sources) > 1:
        raise ValueError("scratch trains one target from random weights: give one --data")
    gen = seed_everything(opts.seed)
    datas = [Prepared(d) for d in data_dirs]
    _same_space(datas)
    first = datas[0]
    cfg = ModelConfig(input_dim=first.D, buckets=int(first.meta["buckets"]), max_params=first.P,
                      **(cfg_args | {"max_len": max(cfg_args.get("max_len", 512), *(d.T for d in datas))}))
    encoder = Encoder(cfg, gen).to(device)
    srcs = [{k: v.to(device) for k, v in init_source_tensors(cfg, gen).items()} for _ in sources]
    share = _share(encoder, srcs[0], encoder_trains=True)
    log.info("%s: trainable parameters %s of %s (%.2f%%)%s", mode, f"{share['trainable_params']:,}", f"{share['total_params']:,}",
             100 * share["trainable_share"], f" per source; {len(sources)} sources share the encoder" if len(sources) > 1 else "")
    results = fit_many(encoder, [Task(n, d, s) for n, d, s in zip(sources, datas, srcs)], device, opts)
    manifest = bundle_io.new_bundle(out, encoder, srcs[0], first, pretrained_on=sources if mode == "pretrain" else None,
                                    lineage={"mode": mode, "config": asdict(cfg)})
    summaries = []
    for name, data, src, res in zip(sources, datas, srcs, results):
        training = _training(mode, encoder, res, device, opts, share, "fresh", sources if len(sources) > 1 else None)
        summaries.append(_finish(out, manifest, name, encoder, src, data, device, res, training, opts))
    return summaries[0] if len(summaries) == 1 else {**summaries[0], "sources": summaries}


def _from_bundle(data_dir: Path, base: Path, init_from: Optional[str], opts: FitOptions, device: torch.device,
                 encoder_trains: bool) -> tuple[Encoder, dict, Prepared, SourceTensors, str, dict]:
    """finetune and adapt start alike: the bundle's encoder, data that fits it, the target's starting tensors."""
    gen = seed_everything(opts.seed)
    encoder, manifest = bundle_io.load_encoder(base, device)
    data = Prepared(data_dir)
    bundle_io.check_data_fits(manifest, data, base)
    src, init_name = _init_from(manifest, base, init_from, encoder.cfg, gen, device)
    return encoder, manifest, data, src, init_name, _share(encoder, src, encoder_trains=encoder_trains)


def finetune(data_dir: Path, source: str, base: Path, out: Path, init_from: Optional[str], opts: FitOptions, device: torch.device) -> dict:
    if out.resolve() == base.resolve():
        raise ValueError("finetune writes a new encoder: --out must be a new folder, not --bundle")
    encoder, base_manifest, data, src, init_name, share = _from_bundle(data_dir, base, init_from, opts, device, encoder_trains=True)
    res, training = _fit_and_describe("finetune", encoder, src, data, device, opts, share, init_name)
    lineage = {"mode": "finetune", "from_encoder_sha256": base_manifest["encoder"]["sha256"], "from_bundle": str(base)}
    manifest = bundle_io.new_bundle(out, encoder, src, data, pretrained_on=base_manifest["encoder"].get("pretrained_on"), lineage=lineage)
    return _finish(out, manifest, source, encoder, src, data, device, res, training, opts)


def adapt(data_dir: Path, source: str, base: Path, out: Optional[Path], init_from: Optional[str], opts: FitOptions, device: torch.device) -> dict:
    """Train only the target's per-source tensors; the adapter goes into ``out`` (default: the bundle itself)."""
    encoder, manifest, data, src, init_name, share = _from_bundle(data_dir, base, init_from, opts, device, encoder_trains=False)
    print(f"adapt: trainable parameters {share['trainable_params']:,} of {share['total_params']:,} "
          f"({100 * share['trainable_share']:.2f}%)", flush=True)
    res, training = _fit_and_describe("adapt", encoder, src, data, device, FitOptions(**(asdict(opts) | {"train_encoder": False})),
                                      share, init_name)
    target = base if out is None or out.resolve() == base.resolve() else out
    if target is not base:
        bundle_io.copy_bundle(base, target)
        manifest = bundle_io.read_manifest(target)
    return _finish(target, manifest, source, encoder, src, data, device, res, training, opts)
