"""The TransLog / LogFormer encoder, written functionally.

    embeddings [B,T,D] ─ Linear(D→d) ─ + sinusoidal positions ─ + Linear(2→d)(count features)
        │     count features of line t: log(1 + lines of t's template in the window), log(1 + lines)
        │
        ├─ N × pre-LN layer:   x = x + Adapter_a(Attn(LN_a(x), bias))
        │                      x = x + Adapter_f(FFN(LN_f(x)))
        │     bias = key padding mask (−1e9 on pad keys) + Log-Attention:
        │            per key line, the mean over its parameter buckets of a learnt
        │            scalar per head and bucket (lines without parameters: 0)
        ├─ LN_final ─ attention pooling (a_t = softmax_t(q · x_t / √d) over real lines, q per source)
        │            ─ Linear(d→1) ─ sigmoid ─▶ score [B]
        └─ contribution [B,T] = a_t · (w_head · x_t) for real lines, 0 for padding:
           the share of the logit each line brings (Σ_t contribution + b_head = logit, exactly).

Why counts and attention pooling (issue 16): a masked mean divides by the window
length, so a session with every line twice looked like one with each line once,
and HDFS's anomalies are often a matter of how many (three replicas received,
two acknowledged). Each line now carries how often its template occurs in the
window and how long the window is; the learnt pooling query lets a few lines
(an exception, an unusual transfer) carry the score instead of being averaged
away, and the contribution stays an exact split of the logit. A template's
count is read off the embeddings themselves (lines whose template vectors
coincide), so the ONNX inputs, and with them the sidecar, are unchanged.
Bundles written before (``pooling: masked mean`` in the manifest) load and
score as they were.

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

import contextlib
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
POOLINGS = ("attention", "mean")
# Two lines share a template when their (unit) template vectors coincide: templates whose words are the same
# (they differ in case, punctuation or <*> only, e.g. "machine state register: <*>" / "Machine State Register: <*>")
# count as one; the closest pair of other templates over the seven prepared sets of models/shared_datasets.py
# has cosine 0.98.
SAME_TEMPLATE_COS = 0.9999


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
    pooling: str = "attention"  # "attention" (learnt query per source) or "mean" (bundles before issue 16)
    count_features: bool = True  # log-count of each line's template and of the window's lines, added to the input

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by {self.heads} heads")
        if self.layers < 1 or self.adapter_size < 1 or self.ffn < 1:
            raise ValueError("layers, adapter size and ffn must be >= 1")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling {self.pooling!r}: one of {', '.join(POOLINGS)}")

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
    if cfg.pooling == "attention":
        out["pool.query"] = (d,)
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
        else:  # biases, W_up, Log-Attention scalars, the pooling query (0: attention starts as the mean)
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
        if cfg.count_features:
            self.count_proj = _linear(2, d, gen)
        self.register_buffer("positions", sinusoids(cfg.max_len, d), persistent=False)

    def forward(self, emb: Tensor, mask: Tensor, buckets: Tensor, src: SourceTensors) -> Tuple[Tensor, Tensor, Tensor]:
        """emb [B,T,D] f32, mask [B,T] f32 (1 = line, 0 = pad), buckets [B,T,P] int (−1 = none).

        Returns (score [B], contribution [B,T], logit [B]).
        """
        cfg = self.cfg
        T = emb.shape[1]
        p = cfg.dropout if self.training else 0.0
        x = F.linear(emb, self.in_proj.weight, self.in_proj.bias) + self.positions[:T]
        if cfg.count_features:
            x = x + F.linear(count_features(emb, mask), self.count_proj.weight, self.count_proj.bias)
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
        contribution = torch.matmul(x, src["head.weight"]) * pooling_weights(x, mask, src, cfg)  # [B,T]
        logit = contribution.sum(dim=1) + src["head.bias"]
        return torch.sigmoid(logit), contribution, logit


def pooling_weights(x: Tensor, mask: Tensor, src: SourceTensors, cfg: ModelConfig) -> Tensor:
    """[B,T] weights of the lines in the pooled vector: sum to 1 over real lines, 0 on padding."""
    if cfg.pooling == "mean":
        return mask / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    logits = torch.matmul(x, src["pool.query"]) * (1.0 / math.sqrt(cfg.d_model)) + (1.0 - mask) * NEG_INF
    return torch.softmax(logits.float(), dim=1).to(x.dtype) * mask


def count_features(emb: Tensor, mask: Tensor) -> Tensor:
    """[B,T,2]: log(1 + lines of the same template in the window), log(1 + lines); 0 on padding.

    Same template = template vectors with cosine above SAME_TEMPLATE_COS (unit rows, 0 on padding).
    In fp32 even under bf16 autocast: bf16 cannot tell 0.9999 from 1.
    """
    with _fp32(emb):
        e = emb.float()
        e = e / torch.sqrt((e * e).sum(dim=-1, keepdim=True)).clamp(min=1e-6)
        same = (torch.matmul(e, e.transpose(1, 2)) > SAME_TEMPLATE_COS).float() * mask[:, None, :].float()
        count = same.sum(dim=-1)  # [B,T]
        lines = mask.float().sum(dim=1, keepdim=True).expand_as(count)
        feats = torch.stack([torch.log1p(count), torch.log1p(lines)], dim=-1) * mask[..., None].float()
    return feats.to(emb.dtype)


def _fp32(t: Tensor):
    """No autocast for the block (CUDA bf16 training); nothing on CPU and in the ONNX export."""
    if t.is_cuda:
        return torch.autocast(device_type="cuda", enabled=False)
    return contextlib.nullcontext()


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
