"""Writing and reading a model bundle (DESIGN.md, "Model bundle").

    <bundle>/manifest.json               what the sidecar validates (models/bundle.ts)
             encoder.onnx                frozen encoder + head trunk, per-source tensors as inputs
             encoder.safetensors         the same frozen weights by PyTorch name (for adapt / finetune;
                                         the sidecar does not read it)
             embedder.safetensors        the embedder every source's template vectors come from
             adapters/<source>.safetensors + <source>.json
             parsers/<source>.drain.json the Drain state prepare ended with (plugin/mining/snapshot.ts)
             parity.json                 a held batch per source and PyTorch's outputs for it

The manifest is rewritten atomically (temp file + rename) whenever a source is
added, so a reader never sees half a manifest.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from . import __version__, safetensors
from .data import Prepared
from .export import FIXED_INPUTS, OPSET, OUTPUTS, export_onnx
from .model import Encoder, ModelConfig, SourceTensors, source_tensor_shapes

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ENCODER_ONNX = "encoder.onnx"
ENCODER_WEIGHTS = "encoder.safetensors"
EMBEDDER = "embedder.safetensors"
PARITY = "parity.json"
SOURCE_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# manifest.json's encoder.pooling, per ModelConfig.pooling
POOLING_NAMES = {"attention": "attention (learnt query per source)", "mean": "masked mean"}
CONTRIBUTION_MEANING = {
    "attention": "line's share of the logit: a_t (w_head . h_t), a_t its pooling weight; sum + head.bias = logit; 0 on padding",
    "mean": "line's share of the logit: (w_head . h_t) / lines; sum + head.bias = logit; 0 on padding",
}


class BundleError(ValueError):
    """A bundle that is missing, inconsistent, or does not fit the data."""


def now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path: Path, obj: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def read_manifest(bundle: Path) -> dict:
    path = Path(bundle) / MANIFEST
    if not path.is_file():
        raise BundleError(f"{bundle}: no {MANIFEST}; is this a bundle folder?")
    m = json.loads(path.read_text())
    if m.get("format_version") != FORMAT_VERSION:
        raise BundleError(f"{path}: format_version {m.get('format_version')!r}, this trainer reads {FORMAT_VERSION}")
    return m


def config_of(manifest: dict) -> ModelConfig:
    e = manifest["encoder"]
    la = e["log_attention"]
    return ModelConfig(
        input_dim=int(manifest["embedder"]["dimension"]), d_model=e["d_model"], layers=e["layers"], heads=e["heads"],
        ffn=e["ffn"], adapter_size=e["adapter_size"], max_len=e["max_len"], buckets=la["buckets"],
        max_params=la["max_params"], log_attention=la["enabled"], dropout=e.get("dropout", 0.1),
        # bundles before issue 16 say "masked mean" and have no count features
        pooling="attention" if e.get("pooling") == POOLING_NAMES["attention"] else "mean",
        count_features=bool(e.get("count_features", False)),
    )


def new_bundle(out: Path, encoder: Encoder, src: SourceTensors, data: Prepared, pretrained_on: Optional[object], lineage: dict) -> dict:
    """Write encoder.onnx, encoder.safetensors and embedder.safetensors into ``out``; return the manifest (no sources yet)."""
    cfg = encoder.cfg
    out.mkdir(parents=True, exist_ok=True)
    (out / "adapters").mkdir(exist_ok=True)
    export_onnx(encoder, src, out / ENCODER_ONNX)
    weights = {k: v.detach().float().cpu().numpy() for k, v in encoder.state_dict().items()}
    safetensors.save_file(out / ENCODER_WEIGHTS, weights, {"format": "fluent-anomaly-encoder", "config": json.dumps(cfg.to_dict())})
    shutil.copyfile(data.path / EMBEDDER, out / EMBEDDER)
    emb = data.meta["embedder"]
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": now(),
        "trainer": {"name": "models.trainer", "version": __version__, "torch": torch.__version__},
        "embedder": {
            "kind": "fluent-anomaly-embedder",
            "dimension": cfg.input_dim,
            "files": [EMBEDDER],
            "sha256": sha256_file(out / EMBEDDER),
            "source": emb.get("source"),
            "idf_weighting": emb.get("idf_weighting"),
        },
        "encoder": {
            "file": ENCODER_ONNX,
            "sha256": sha256_file(out / ENCODER_ONNX),
            "opset": OPSET,
            "d_model": cfg.d_model,
            "layers": cfg.layers,
            "heads": cfg.heads,
            "ffn": cfg.ffn,
            "adapter_size": cfg.adapter_size,
            "max_len": cfg.max_len,
            "norm": "pre-ln",
            "activation": "gelu",
            "pooling": POOLING_NAMES[cfg.pooling],
            "count_features": cfg.count_features,
            "dropout": cfg.dropout,
            "log_attention": {"enabled": cfg.log_attention, "buckets": cfg.buckets, "max_params": cfg.max_params,
                              "param_hash": data.meta.get("param_hash")},
            "inputs": {
                "embeddings": {"dtype": "float32", "shape": ["B", "T", cfg.input_dim]},
                "mask": {"dtype": "float32", "shape": ["B", "T"], "meaning": "1 = real line, 0 = padding (at the end)"},
                "param_buckets": {"dtype": "int32", "shape": ["B", "T", cfg.max_params], "meaning": "bucket id, -1 = none"},
            },
            "outputs": {
                "score": {"dtype": "float32", "shape": ["B"], "meaning": "anomaly probability"},
                "contribution": {"dtype": "float32", "shape": ["B", "T"], "meaning": CONTRIBUTION_MEANING[cfg.pooling]},
            },
            "source_tensors": [{"name": n, "dtype": "float32", "shape": list(s)} for n, s in source_tensor_shapes(cfg).items()],
            "weights": {"file": ENCODER_WEIGHTS, "sha256": sha256_file(out / ENCODER_WEIGHTS)},
            # one source: its name (as before); several (joint pretraining): the list, first one the default --init-from
            "pretrained_on": pretrained_on[0] if isinstance(pretrained_on, list) and len(pretrained_on) == 1 else pretrained_on,
            "lineage": lineage,
        },
        "sources": {},
    }
    assert list(manifest["encoder"]["inputs"]) == list(FIXED_INPUTS) and list(manifest["encoder"]["outputs"]) == list(OUTPUTS)
    write_json(out / MANIFEST, manifest)
    return manifest


def copy_bundle(src_dir: Path, out: Path) -> None:
    """A new bundle folder with the same encoder, embedder and adapters (adapt --out elsewhere)."""
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"--out {out} exists and is not empty; give a new folder or omit --out to add to the bundle in place")
    shutil.copytree(src_dir, out, dirs_exist_ok=True)


def load_encoder(bundle: Path, device: torch.device) -> tuple[Encoder, dict]:
    """The frozen encoder of a bundle, after checking both files against the manifest's hashes."""
    m = read_manifest(bundle)
    e = m["encoder"]
    for name, want in ((e["file"], e["sha256"]), (e["weights"]["file"], e["weights"]["sha256"])):
        got = sha256_file(Path(bundle) / name)
        if got != want:
            raise BundleError(f"{bundle}/{name}: sha256 {got} but the manifest says {want}; the bundle was edited or half-copied")
    cfg = config_of(m)
    tensors, _ = safetensors.load_file(Path(bundle) / e["weights"]["file"])
    encoder = Encoder(cfg, torch.Generator().manual_seed(0))
    encoder.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    return encoder.to(device).eval(), m


def load_source(bundle: Path, manifest: dict, source: str, device: torch.device) -> tuple[SourceTensors, dict]:
    """A source's tensors and adapter metadata, refusing an adapter trained against another encoder."""
    entry = manifest["sources"].get(source)
    if entry is None:
        raise BundleError(f"{bundle}: no source {source!r} (has: {', '.join(manifest['sources']) or 'none'})")
    meta = json.loads((Path(bundle) / entry["metadata"]).read_text())
    if meta["encoder_sha256"] != manifest["encoder"]["sha256"]:
        raise BundleError(f"adapter {source} was trained against encoder {meta['encoder_sha256']}, "
                          f"this bundle's encoder is {manifest['encoder']['sha256']}")
    tensors, _ = safetensors.load_file(Path(bundle) / entry["adapter"])
    shapes = source_tensor_shapes(config_of(manifest))
    if set(tensors) != set(shapes) or any(tuple(tensors[k].shape) != s for k, s in shapes.items()):
        raise BundleError(f"adapter {source}: tensors do not match the encoder's per-source inputs")
    return {k: torch.from_numpy(tensors[k]).float().to(device) for k in shapes}, meta


def add_source(bundle: Path, manifest: dict, source: str, src: SourceTensors, data: Prepared, meta: dict, parity: dict) -> dict:
    """Write the adapter files, the parser snapshot and parity entry, and list the source in the manifest."""
    bundle = Path(bundle)
    (bundle / "adapters").mkdir(exist_ok=True)
    (bundle / "parsers").mkdir(exist_ok=True)
    adapter = f"adapters/{source}.safetensors"
    meta_file = f"adapters/{source}.json"
    arrays: Dict[str, np.ndarray] = {k: v.detach().float().cpu().numpy() for k, v in src.items()}
    # atomic writes (temp + rename): a running sidecar watching adapters/ never reads half a file
    tmp = bundle / (adapter + ".tmp")
    safetensors.save_file(tmp, arrays, {"format": "fluent-anomaly-adapter", "source": source,
                                        "encoder_sha256": manifest["encoder"]["sha256"]})
    os.replace(tmp, bundle / adapter)
    write_json(bundle / meta_file, meta)
    parser_file = None
    snap = data.path / str(data.meta["drain"].get("snapshot") or "drain.json")
    if snap.is_file():
        parser_file = f"parsers/{source}.drain.json"
        shutil.copyfile(snap, bundle / parser_file)
    parity_path = bundle / PARITY
    all_parity = json.loads(parity_path.read_text()) if parity_path.is_file() else {"format_version": 1, "sources": {}}
    all_parity["sources"][source] = parity | {"encoder_sha256": manifest["encoder"]["sha256"]}
    write_json(parity_path, all_parity)
    manifest["sources"][source] = {
        "adapter": adapter,
        "metadata": meta_file,
        "sha256": sha256_file(bundle / adapter),
        "threshold": meta["threshold"],
        "metrics": {"validation": meta["metrics"]["validation"]},
        "window": {"format": data.meta["format"], "mode": data.meta["mode"], "T": data.T, **data.meta["window"]},
        "parser": {"preset": data.meta["drain"].get("preset"), "options": data.meta["drain"].get("options"), "snapshot": parser_file},
        "params": {"buckets": data.meta["buckets"], "max_params": data.P, "hash": data.meta.get("param_hash")},
    }
    write_json(bundle / MANIFEST, manifest)
    log.info("bundle %s: source %s added (threshold %.4f)", bundle, source, meta["threshold"])
    return manifest


def check_data_fits(manifest: dict, data: Prepared, bundle: Path) -> None:
    """A target must live in the bundle's embedding space and Log-Attention buckets."""
    want = manifest["embedder"]["sha256"]
    if data.embedder_sha256 != want:
        raise BundleError(
            f"{data.path} was prepared with embedder {data.embedder_sha256}, the bundle's is {want}: template vectors "
            f"would live in another space. Prepare the target again with --embedder {Path(bundle) / EMBEDDER}"
        )
    la = manifest["encoder"]["log_attention"]
    if data.meta["buckets"] != la["buckets"] or data.P != la["max_params"]:
        raise BundleError(f"{data.path}: {data.meta['buckets']} buckets x {data.P} params, the encoder takes "
                          f"{la['buckets']} x {la['max_params']}; prepare with --param-buckets / --max-params to match")
    if data.T > manifest["encoder"]["max_len"]:
        raise BundleError(f"{data.path}: windows of {data.T} lines, the encoder's positions stop at {manifest['encoder']['max_len']}")
