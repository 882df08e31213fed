#!/usr/bin/env python3
"""Writes tests/fixtures/reference.safetensors with the reference safetensors implementation.

Every value comes from a formula of the flat (row-major) element index k; tests/nn/serialize_test.cpp
computes the same formulas in C++ and scripts/check_safetensors.py imports REFERENCE_TENSORS from here,
so the three agree without copying numbers. All values are exactly representable in their dtype.

NumPy has no bfloat16, so safetensors.numpy.save_file cannot write one. The file is therefore written
with safetensors.serialize_file, the function save_file itself calls, with the bf16 tensor passed as its
raw 16-bit patterns (the upper half of the float32 bits, exact for these values).

Usage: scripts/make_safetensors_fixture.py [OUTPUT]   (default: tests/fixtures/reference.safetensors)
"""
import os
import sys

import numpy as np

# name -> (safetensors dtype, shape, values as a function of the flat index array k)
REFERENCE_TENSORS = {
    "f32_matrix": ("F32", (3, 4), lambda k: 0.25 * k - 1.5),
    "f64_vector": ("F64", (5,), lambda k: 1.0 / (k + 1)),
    "f16_matrix": ("F16", (2, 3), lambda k: 0.5 * k - 1.25),
    "bf16_vector": ("BF16", (4,), lambda k: 0.75 * k - 2.0),
    "i64_vector": ("I64", (4,), lambda k: (k - 2) * 1_000_000_000_000 + k),
    "i32_tensor3": ("I32", (2, 2, 3), lambda k: 3 - 7 * k),
    "u8_vector": ("U8", (6,), lambda k: (37 * k + 200) % 256),
    "bool_vector": ("BOOL", (5,), lambda k: k % 3 == 0),
    "scalar": ("F32", (), lambda k: 3.25 + 0 * k),
    "empty": ("F32", (0, 3), lambda k: 0.0 * k),
}

REFERENCE_METADATA = {
    "format": "volt-reference",
    "written_by": "scripts/make_safetensors_fixture.py",
    "unicode": "\u03bb \u2192 \u2713",
}

NUMPY_DTYPES = {
    "F32": np.float32,
    "F64": np.float64,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def expected_array(name):
    """The tensor's values as a NumPy array; BF16 values as float32 (each exactly a bfloat16)."""
    dtype, shape, formula = REFERENCE_TENSORS[name]
    count = int(np.prod(shape, dtype=np.int64))
    k = np.arange(count, dtype=np.int64)
    values = np.asarray(formula(k))
    target = np.float32 if dtype == "BF16" else NUMPY_DTYPES[dtype]
    # Integer formulas are computed in int64 and fit the target type; float formulas in float64.
    return values.astype(target).reshape(shape)


def bf16_bits(values):
    """float32 values -> uint16 bfloat16 bit patterns; the values must be exact in bfloat16."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    assert not np.any(bits & 0xFFFF), "value not exactly representable in bfloat16"
    return (bits >> 16).astype(np.uint16)


def main():
    import safetensors  # noqa: E402  (imported here so REFERENCE_TENSORS is importable without it)

    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "tests", "fixtures", "reference.safetensors")
    arrays = {}
    specs = {}
    for name, (dtype, shape, _) in REFERENCE_TENSORS.items():
        values = expected_array(name)
        data = bf16_bits(values) if dtype == "BF16" else np.ascontiguousarray(values)
        assert data.dtype.byteorder in ("=", "<", "|") and sys.byteorder == "little"
        arrays[name] = data  # keeps the memory alive while serialize_file reads it
        specs[name] = safetensors.TensorSpec(
            dtype="bfloat16" if dtype == "BF16" else data.dtype.name,
            shape=list(shape),
            data_ptr=data.ctypes.data,
            data_len=data.nbytes,
        )
    safetensors.serialize_file(specs, out, metadata=REFERENCE_METADATA)
    print(f"wrote {os.path.normpath(out)} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
