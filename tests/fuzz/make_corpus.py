#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus, tests/fuzz/corpus/<target>/: small valid files, built here
from the formats' descriptions (data/idx.h, nn/serialize.h) with the standard library only.
The files are committed; run this again only to change them (the output is deterministic)."""
import gzip
import io
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gz(data):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as f:
        f.write(data)
    return out.getvalue()


def idx(code, dims, payload):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def safetensors(tensors, metadata=None):
    """tensors: name -> (dtype, shape, raw little-endian bytes), laid out as save_safetensors does:
    by decreasing itemsize, then name; header padded with spaces to a multiple of 8."""
    size = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "U8": 1, "BOOL": 1}
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors, key=lambda n: (-size[tensors[n][0]], n)):
        dtype, shape, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def f32(*v):
    return struct.pack("<%df" % len(v), *v)


# --- idx_fuzzer: raw and gzip'd, each supported type, an empty tensor, two gzip members --------
u8 = idx(0x08, [2, 3], bytes([0, 1, 2, 127, 128, 255]))
f32_be = idx(0x0D, [2, 2], struct.pack(">4f", 0.0, -1.5, 3.25, float("inf")))
write("idx_fuzzer", "u8-2x3.idx", u8)
write("idx_fuzzer", "u8-2x3.idx.gz", gz(u8))
write("idx_fuzzer", "f32-2x2.idx", f32_be)
write("idx_fuzzer", "f32-2x2.idx.gz", gz(f32_be))
write("idx_fuzzer", "i32-3.idx", idx(0x0C, [3], struct.pack(">3i", 1, -2, 2**31 - 1)))
write("idx_fuzzer", "f64-1x2.idx", idx(0x0E, [1, 2], struct.pack(">2d", 0.1, -2.5e300)))
write("idx_fuzzer", "u8-0x28x28.idx", idx(0x08, [0, 28, 28], b""))
labels = idx(0x08, [10], bytes(range(10)))
write("idx_fuzzer", "labels-two-members.idx.gz", gz(labels[:7]) + gz(labels[7:]))

# --- safetensors_fuzzer: every dtype volt reads, metadata, a scalar, an empty tensor -----------
write("safetensors_fuzzer", "dtypes.safetensors", safetensors({
    "a.f32": ("F32", [2, 2], f32(1.0, -2.0, 0.5, float("nan"))),
    "b.f64": ("F64", [2], struct.pack("<2d", 1e-300, -0.0)),
    "c.f16": ("F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x8001)),
    "d.bf16": ("BF16", [1, 2], struct.pack("<2H", 0x3F80, 0xFF80)),
    "e.i32": ("I32", [2], struct.pack("<2i", -1, 2**31 - 1)),
    "f.i64": ("I64", [1], struct.pack("<q", -2**63)),
    "g.u8": ("U8", [4], bytes([0, 1, 128, 255])),
    "h.bool": ("BOOL", [3], bytes([0, 1, 1])),
}, {"format": "pt", "note": "seed"}))
write("safetensors_fuzzer", "scalar-and-empty.safetensors", safetensors({
    "scalar": ("F32", [], f32(3.0)),
    "empty": ("F32", [0, 4], b""),
}))
write("safetensors_fuzzer", "no-tensors.safetensors", safetensors({}))

# --- state_dict_fuzzer: the module's own entries (state_dict_fuzzer.cpp's Net), and near misses --
net = {
    "body.0.weight": ("F32", [3, 4], f32(*[i / 8 - 0.75 for i in range(12)])),
    "body.0.bias": ("F32", [3], f32(0.1, -0.2, 0.3)),
    "body.2.weight": ("F32", [2, 3], f32(1, 2, 3, -1, -2, -3)),
    "steps": ("I64", [], struct.pack("<q", 42)),
}
write("state_dict_fuzzer", "net.safetensors", safetensors(net, {"format": "pt"}))
as_f64 = {k: ("F64", s, struct.pack("<%dd" % (len(r) // 4), *struct.unpack("<%df" % (len(r) // 4), r)))
          for k, (d, s, r) in net.items() if d == "F32"}
as_f64["steps"] = ("F64", [], struct.pack("<d", 7.0))
write("state_dict_fuzzer", "net-f64.safetensors", safetensors(as_f64))
write("state_dict_fuzzer", "net-missing-bias.safetensors", safetensors({k: v for k, v in net.items() if k != "body.0.bias"}))
write("state_dict_fuzzer", "net-extra-key.safetensors", safetensors({**net, "body.1.weight": ("F32", [1], f32(0))}))
write("state_dict_fuzzer", "net-wrong-shape.safetensors",
      safetensors({**net, "body.2.weight": ("F32", [3, 2], net["body.2.weight"][2])}))
