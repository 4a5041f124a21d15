"""ONNX export of the encoder and the parity batch the Node side replays.

encoder.onnx (opset 14, dynamic B and T):
    inputs   embeddings     [B,T,D] float32   template vectors of the window's lines (0 on padding)
             mask           [B,T]   float32   1 = real line, 0 = padding (padding at the end)
             param_buckets  [B,T,P] int32     Log-Attention bucket ids, −1 = none
             <per-source tensor names>        model.source_tensor_shapes(), float32
    outputs  score          [B]     float32   anomaly probability
             contribution   [B,T]   float32   each line's share of the logit (0 on padding)

The frozen weights are initializers; the per-source tensors are graph inputs,
so a session built once takes any source's adapter as feeds. Python has no
onnxruntime here: ``onnx.checker`` validates the graph, and the Node test
(test/trainer/parity.test.ts) runs parity.json through onnxruntime-node.
"""
from __future__ import annotations

import base64
import logging
import warnings
from pathlib import Path
from typing import Dict, List

import numpy as np
import onnx
import torch
from torch import Tensor, nn
from torch.onnx import export as _export

from .data import Batcher
from .model import Encoder, SourceTensors, source_names

log = logging.getLogger(__name__)

OPSET = 14
FIXED_INPUTS = ("embeddings", "mask", "param_buckets")
OUTPUTS = ("score", "contribution")


class _OnnxEntry(nn.Module):
    """Positional-argument wrapper: (embeddings, mask, param_buckets, *per-source tensors)."""

    def __init__(self, encoder: Encoder, names: List[str]) -> None:
        super().__init__()
        self.encoder = encoder
        self.names = names

    def forward(self, emb: Tensor, mask: Tensor, buckets: Tensor, *tensors: Tensor):
        src = dict(zip(self.names, tensors))
        score, contribution, _ = self.encoder(emb, mask, buckets, src)
        return score, contribution


def export_onnx(encoder: Encoder, src: SourceTensors, path: Path) -> None:
    """Write encoder.onnx; ``src`` only gives example values (shapes), it is not baked in."""
    cfg = encoder.cfg
    names = source_names(cfg)
    cpu_encoder = _cpu_copy(encoder)
    gen = torch.Generator().manual_seed(0)
    # example B=3, T=5: the traced sizes must not leak into the graph (the parity batch uses others)
    emb = torch.randn(3, 5, cfg.input_dim, generator=gen)
    mask = torch.ones(3, 5)
    mask[1, 3:] = 0
    buckets = torch.randint(-1, cfg.buckets, (3, 5, cfg.max_params), generator=gen, dtype=torch.int32)
    tensors = tuple(src[n].detach().float().cpu() for n in names)
    dynamic = {"embeddings": {0: "B", 1: "T"}, "mask": {0: "B", 1: "T"}, "param_buckets": {0: "B", 1: "T"},
               "score": {0: "B"}, "contribution": {0: "B", 1: "T"}}
    with warnings.catch_warnings():
        # torch 1.13 warns about its own constants' shape inference on every export; the checker below is the real test
        warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
        _export(
            _OnnxEntry(cpu_encoder, names).eval(),
            (emb, mask, buckets, *tensors),
            str(path),
            input_names=[*FIXED_INPUTS, *names],
            output_names=list(OUTPUTS),
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    model = onnx.load(str(path))
    if not cfg.log_attention:
        _keep_input(model, "param_buckets", 2, onnx.TensorProto.INT32, ["B", "T", cfg.max_params])
        onnx.save(model, str(path))
    onnx.checker.check_model(model, full_check=True)
    got = [i.name for i in model.graph.input]
    want = [*FIXED_INPUTS, *names]
    if got != want:
        raise RuntimeError(f"exported graph inputs {got} are not the expected {want} (an unused input was dropped?)")
    log.info("wrote %s (opset %d, %d inputs, %.1f MB)", path, OPSET, len(got), path.stat().st_size / 1e6)


def _keep_input(model: onnx.ModelProto, name: str, pos: int, elem: int, shape: list) -> None:
    """Put back an input the exporter dropped for having no consumer (param_buckets with
    --no-log-attention), so every encoder.onnx takes the same feeds."""
    if any(i.name == name for i in model.graph.input):
        return
    model.graph.input.insert(pos, onnx.helper.make_tensor_value_info(name, elem, shape))


def _cpu_copy(encoder: Encoder) -> Encoder:
    out = Encoder(encoder.cfg, torch.Generator().manual_seed(0))
    out.load_state_dict({k: v.detach().float().cpu() for k, v in encoder.state_dict().items()})
    return out.eval()


def _b64(a: np.ndarray, dtype: str) -> Dict[str, object]:
    arr = np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": {"<f4": "float32", "<i4": "int32"}[dtype], "shape": list(arr.shape), "base64": base64.b64encode(arr.tobytes()).decode("ascii")}


@torch.no_grad()
def parity_entry(encoder: Encoder, src: SourceTensors, batcher: Batcher, rows: np.ndarray) -> Dict[str, object]:
    """A held batch and PyTorch's fp32 CPU outputs for it (what ONNX Runtime must reproduce)."""
    cpu_encoder = _cpu_copy(encoder)
    cpu_src = {k: v.detach().float().cpu() for k, v in src.items()}
    b = batcher.batch(rows)
    emb, mask, buckets = b.emb.cpu(), b.mask.cpu(), b.buckets.cpu()
    score, contribution, _ = cpu_encoder(emb, mask, buckets, cpu_src)
    return {
        "rows": [int(r) for r in rows],
        "inputs": {
            "embeddings": _b64(emb.numpy(), "<f4"),
            "mask": _b64(mask.numpy(), "<f4"),
            "param_buckets": _b64(buckets.numpy(), "<i4"),
        },
        "expected": {"score": score.tolist(), "contribution": contribution.tolist()},
    }


def parity_rows(labels: np.ndarray, rows: np.ndarray, n: int = 8) -> np.ndarray:
    """Up to n rows of the given split, anomalous ones first, so the batch is not all near-zero scores."""
    pos = rows[labels[rows] == 1][: n // 2]
    neg = rows[labels[rows] == 0][: n - len(pos)]
    return np.sort(np.concatenate([pos, neg]))
