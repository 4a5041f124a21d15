"""The TransLog / LogFormer encoder, written functionally.

    embeddings [B,T,D] ─ Linear(D→d) ─ + sinusoidal positions
        │
        ├─ N × pre-LN layer:   x = x + Adapter_a(Attn(LN_a(x), bias))
        │                      x = x + Adapter_f(FFN(LN_f(x)))
        │     bias = key padding mask (−1e9 on pad keys) + Log-Attention:
        │            per key line, the mean over its parameter buckets of a learnt
        │            scalar per head and bucket (lines without parameters: 0)
        ├─ LN_final ─ masked mean over the real lines ─ Linear(d→1) ─ sigmoid ─▶ score [B]
        └─ contribution [B,T] = (w_head · x_t) / n_lines for real lines, 0 for padding:
           the share of the logit each line brings (Σ_t contribution + b_head = logit).

Two kinds of weights:
- the frozen encoder (``Encoder`` parameters: input projection, attention and
  feed-forward weights; the positions are a constant), shared by every source;
- per-source tensors (a plain ``dict`` name → tensor: the adapters, the layer
  norms they tune, the classifier head, the Log-Attention scalars). They come
  into ``forward`` as an argument, so the same code trains them and exports
  them as named ONNX inputs; one ONNX session then serves every source.

Pre-LN (Xiong et al., 2020) trains stably from random init without warm-up
tricks, which the ``scratch`` baseline and small targets need; the adapter sits
at the end of each residual branch (Houlsby et al., 2019), so with W_up = 0 a
new adapter is the identity and adaptation starts from the pretrained function.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

HEADS = 8
NEG_INF = -1e9  # added to padded keys' logits; finite so a row never becomes NaN
LN_EPS = 1e-5

SourceTensors = Dict[str, Tensor]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture; recorded in manifest.json, so a bundle rebuilds the same model."""

    input_dim: int  # D, the template vector size (the embedder's dimension)
    d_model: int = 512
    layers: int = 2
    heads: int = HEADS
    ffn: int = 2048
    adapter_size: int = 64
    max_len: int = 512  # longest window the positions cover
    buckets: int = 1024  # Log-Attention buckets (prepare --param-buckets)
    max_params: int = 8  # P (prepare --max-params)
    log_attention: bool = True
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by {self.heads} heads")
        if self.layers < 1 or self.adapter_size < 1 or self.ffn < 1:
            raise ValueError("layers, adapter size and ffn must be >= 1")

    def to_dict(self) -> dict:
        return asdict(self)


def sinusoids(max_len: int, d: int) -> Tensor:
    """Vaswani et al. (2017) positions, [max_len, d]."""
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe


def source_tensor_shapes(cfg: ModelConfig) -> Dict[str, Tuple[int, ...]]:
    """Name → shape of every per-source tensor, in a fixed order (the ONNX input order)."""
    d, m = cfg.d_model, cfg.adapter_size
    out: Dict[str, Tuple[int, ...]] = {}
    for i in range(cfg.layers):
        for block in ("attn", "ffn"):
            out[f"layers.{i}.ln_{block}.weight"] = (d,)
            out[f"layers.{i}.ln_{block}.bias"] = (d,)
            out[f"layers.{i}.adapter_{block}.down.weight"] = (m, d)
            out[f"layers.{i}.adapter_{block}.down.bias"] = (m,)
            out[f"layers.{i}.adapter_{block}.up.weight"] = (d, m)
            out[f"layers.{i}.adapter_{block}.up.bias"] = (d,)
    out["final_ln.weight"] = (d,)
    out["final_ln.bias"] = (d,)
    out["head.weight"] = (d,)
    out["head.bias"] = (1,)
    if cfg.log_attention:
        out["log_attention"] = (cfg.heads, cfg.buckets)
    return out


def init_source_tensors(cfg: ModelConfig, gen: torch.Generator) -> SourceTensors:
    """Fresh per-source tensors: identity adapters (W_up = 0), unit layer norms, small head, zero Log-Attention."""
    out: SourceTensors = {}
    for name, shape in source_tensor_shapes(cfg).items():
        if name.endswith("down.weight"):
            t = torch.randn(shape, generator=gen) * 0.02
        elif name == "head.weight":
            t = torch.randn(shape, generator=gen) * (1.0 / math.sqrt(cfg.d_model))
        elif name.endswith("ln_attn.weight") or name.endswith("ln_ffn.weight") or name == "final_ln.weight":
            t = torch.ones(shape)
        else:  # biases, W_up, Log-Attention scalars
            t = torch.zeros(shape)
        out[name] = t
    return out


class Encoder(nn.Module):
    """The frozen trunk. Per-source tensors are passed to ``forward``."""

    def __init__(self, cfg: ModelConfig, gen: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.in_proj = _linear(cfg.input_dim, d, gen)
        self.layers = nn.ModuleList()
        for _ in range(cfg.layers):
            layer = nn.Module()
            layer.q, layer.k, layer.v, layer.o = (_linear(d, d, gen) for _ in range(4))
            layer.ff1 = _linear(d, cfg.ffn, gen)
            layer.ff2 = _linear(cfg.ffn, d, gen)
            self.layers.append(layer)
        self.register_buffer("positions", sinusoids(cfg.max_len, d), persistent=False)

    def forward(self, emb: Tensor, mask: Tensor, buckets: Tensor, src: SourceTensors) -> Tuple[Tensor, Tensor, Tensor]:
        """emb [B,T,D] f32, mask [B,T] f32 (1 = line, 0 = pad), buckets [B,T,P] int (−1 = none).

        Returns (score [B], contribution [B,T], logit [B]).
        """
        cfg = self.cfg
        T = emb.shape[1]
        p = cfg.dropout if self.training else 0.0
        x = F.linear(emb, self.in_proj.weight, self.in_proj.bias) + self.positions[:T]
        x = F.dropout(x, p, self.training)
        bias = ((1.0 - mask) * NEG_INF)[:, None, None, :]  # [B,1,1,T]: keys only
        if cfg.log_attention:
            bias = bias + log_attention_bias(buckets, src["log_attention"])
        for i, layer in enumerate(self.layers):
            h = _ln(x, src, f"layers.{i}.ln_attn", cfg.d_model)
            h = _attention(h, layer, bias, cfg.heads, cfg.d_model, p, self.training)
            x = x + F.dropout(_adapter(h, src, f"layers.{i}.adapter_attn"), p, self.training)
            h = _ln(x, src, f"layers.{i}.ln_ffn", cfg.d_model)
            h = F.linear(F.gelu(F.linear(h, layer.ff1.weight, layer.ff1.bias)), layer.ff2.weight, layer.ff2.bias)
            x = x + F.dropout(_adapter(h, src, f"layers.{i}.adapter_ffn"), p, self.training)
        x = _ln(x, src, "final_ln", cfg.d_model)
        n = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
        contribution = torch.matmul(x, src["head.weight"]) * mask / n  # [B,T]
        logit = contribution.sum(dim=1) + src["head.bias"]
        return torch.sigmoid(logit), contribution, logit


def log_attention_bias(buckets: Tensor, scalars: Tensor) -> Tensor:
    """buckets [B,T,P] (−1 = none), scalars [H,K] → bias [B,H,1,T] on each key line."""
    valid = (buckets >= 0).to(scalars.dtype)  # [B,T,P]
    idx = buckets.clamp(min=0).long()
    vals = F.embedding(idx, scalars.t())  # [B,T,P,H]
    total = (vals * valid.unsqueeze(-1)).sum(dim=2)  # [B,T,H]
    mean = total / valid.sum(dim=2, keepdim=True).clamp(min=1.0)
    return mean.permute(0, 2, 1).unsqueeze(2)


def _attention(h: Tensor, layer: nn.Module, bias: Tensor, heads: int, d: int, p: float, training: bool) -> Tensor:
    # heads and d are python ints from the config, so the ONNX graph keeps B and T dynamic and the scale constant
    dh = d // heads

    def split(t: Tensor) -> Tensor:  # [B,T,d] -> [B,H,T,dh]
        return t.reshape(t.shape[0], -1, heads, dh).transpose(1, 2)

    q = split(F.linear(h, layer.q.weight, layer.q.bias))
    k = split(F.linear(h, layer.k.weight, layer.k.bias))
    v = split(F.linear(h, layer.v.weight, layer.v.bias))
    logits = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(dh)) + bias
    attn = F.dropout(torch.softmax(logits.float(), dim=-1).to(v.dtype), p, training)
    out = torch.matmul(attn, v).transpose(1, 2).reshape(h.shape[0], -1, d)
    return F.linear(out, layer.o.weight, layer.o.bias)


def _adapter(h: Tensor, src: SourceTensors, name: str) -> Tensor:
    """h' = W_up · gelu(W_down · h) + h."""
    z = F.gelu(F.linear(h, src[f"{name}.down.weight"], src[f"{name}.down.bias"]))
    return F.linear(z, src[f"{name}.up.weight"], src[f"{name}.up.bias"]) + h


def _ln(x: Tensor, src: SourceTensors, name: str, d: int) -> Tensor:
    # d is a python int (not x.shape[-1]) so the ONNX export sees a constant normalized shape
    return F.layer_norm(x, (d,), src[f"{name}.weight"], src[f"{name}.bias"], LN_EPS)


def _linear(n_in: int, n_out: int, gen: torch.Generator) -> nn.Linear:
    lin = nn.Linear(n_in, n_out)
    with torch.no_grad():
        bound = math.sqrt(6.0 / (n_in + n_out))  # Xavier uniform, from the seeded generator
        lin.weight.copy_(torch.rand(n_out, n_in, generator=gen) * 2 * bound - bound)
        lin.bias.zero_()
    return lin


def count_params(encoder: Encoder, src: SourceTensors) -> Tuple[int, int]:
    """(frozen encoder parameters, per-source parameters)."""
    return sum(p.numel() for p in encoder.parameters()), sum(t.numel() for t in src.values())


def source_names(cfg: ModelConfig) -> List[str]:
    return list(source_tensor_shapes(cfg))
