"""The safetensors file format, by hand (there is no safetensors package here).

https://github.com/huggingface/safetensors#format:

    bytes 0..8        u64 little-endian N, the length of the JSON header
    bytes 8..8+N      JSON {name: {"dtype", "shape", "data_offsets": [begin, end]},
                            "__metadata__": {str: str}}, space-padded to a multiple of 8
    bytes 8+N..       the tensors' bytes, little-endian, C order, back to back

models/bundle.ts reads the same layout on the Node side.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Dict, Mapping, Optional

import numpy as np

# safetensors dtype names <-> numpy, little-endian
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}

# A header larger than this is not a tensor file we wrote (the reference implementation caps it at 100 MB).
MAX_HEADER_BYTES = 100_000_000


class SafetensorsError(ValueError):
    """The bytes are not a valid safetensors file."""


def encode(tensors: Mapping[str, np.ndarray], metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """Tensors (numpy arrays) -> safetensors bytes; names sorted so equal inputs give equal bytes."""
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        if dt not in _NAMES:
            raise SafetensorsError(f"tensor {name!r}: dtype {arr.dtype} has no safetensors name")
        data = np.ascontiguousarray(arr, dtype=dt).tobytes(order="C")
        header[name] = {"dtype": _NAMES[dt], "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def decode(data: bytes, name: str = "safetensors file") -> tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """safetensors bytes -> ({name: array}, metadata); checks every offset."""
    if len(data) < 8:
        raise SafetensorsError(f"{name}: {len(data)} bytes, too short for a header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise SafetensorsError(f"{name}: header length {n} does not fit the {len(data)}-byte file")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SafetensorsError(f"{name}: header is not JSON: {err}") from err
    if not isinstance(header, dict):
        raise SafetensorsError(f"{name}: header is not a JSON object")
    meta = header.pop("__metadata__", None) or {}
    body = memoryview(data)[8 + n :]
    out: Dict[str, np.ndarray] = {}
    for key, info in header.items():
        try:
            dt = _DTYPES[info["dtype"]]
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as err:
            raise SafetensorsError(f"{name}: tensor {key!r} has a malformed entry {info!r}") from err
        expected = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        if not (0 <= begin <= end <= len(body)) or end - begin != expected:
            raise SafetensorsError(f"{name}: tensor {key!r} offsets [{begin}, {end}) do not hold {shape} {info['dtype']}")
        out[key] = np.frombuffer(body[begin:end], dtype=dt).reshape(shape).copy()
    return out, dict(meta)


def save_file(path: Path, tensors: Mapping[str, np.ndarray], metadata: Optional[Mapping[str, str]] = None) -> None:
    Path(path).write_bytes(encode(tensors, metadata))


def load_file(path: Path) -> tuple[Dict[str, np.ndarray], Dict[str, str]]:
    return decode(Path(path).read_bytes(), str(path))
