#!/usr/bin/env python3
"""Checks a safetensors file against the reference tensors, using the reference implementation.

The file must hold exactly the tensors of REFERENCE_TENSORS (scripts/make_safetensors_fixture.py), with
their dtypes, shapes and bit-exact values, and exactly REFERENCE_METADATA. tests/nn/serialize_test.cpp
writes such a file with volt and runs this script on it.

The file is read twice: with safetensors.deserialize (the reference parser, which validates the whole file
and returns every tensor's raw bytes, bf16 included) and with safetensors.safe_open(framework="numpy"), the
reader behind safetensors.numpy.load_file, for every dtype NumPy has. Also checks that the header length
is a multiple of 8, as volt promises.

Usage: scripts/check_safetensors.py FILE
Exit status: 0 if everything matches, 1 on a mismatch, 2 on a usage error or a missing module.
"""
import os
import struct
import sys

sys.dont_write_bytecode = True  # importing the fixture script must not leave __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from make_safetensors_fixture import REFERENCE_METADATA, REFERENCE_TENSORS, bf16_bits, expected_array  # noqa: E402


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import safetensors
    except ImportError as e:
        print(f"check_safetensors: {e}", file=sys.stderr)
        return 2

    path = sys.argv[1]
    problems = []
    with open(path, "rb") as f:
        raw = f.read()

    (header_len,) = struct.unpack("<Q", raw[:8])
    if header_len % 8:
        problems.append(f"header length {header_len} is not a multiple of 8")

    try:
        entries = dict(safetensors.deserialize(raw))
    except Exception as e:  # the reference's own validation failed
        print(f"check_safetensors: {path}: the reference rejects the file: {e}", file=sys.stderr)
        return 1

    if set(entries) != set(REFERENCE_TENSORS):
        problems.append(f"tensor names {sorted(entries)} != expected {sorted(REFERENCE_TENSORS)}")

    with safetensors.safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
        if metadata != REFERENCE_METADATA:
            problems.append(f"metadata {metadata!r} != expected {REFERENCE_METADATA!r}")
        for name, (dtype, shape, _) in REFERENCE_TENSORS.items():
            if name not in entries:
                continue
            entry = entries[name]
            expected = expected_array(name)
            expected_bytes = (bf16_bits(expected) if dtype == "BF16" else expected).tobytes()
            if entry["dtype"] != dtype:
                problems.append(f"{name}: dtype {entry['dtype']} != {dtype}")
                continue
            if tuple(entry["shape"]) != tuple(shape):
                problems.append(f"{name}: shape {entry['shape']} != {list(shape)}")
                continue
            if bytes(entry["data"]) != expected_bytes:
                problems.append(f"{name}: bytes differ from the expected values")
            if dtype == "BF16":
                continue  # NumPy has no bfloat16; the raw bytes above are the check
            array = f.get_tensor(name)
            if array.dtype != expected.dtype or array.shape != expected.shape:
                problems.append(f"{name}: numpy sees {array.dtype}{list(array.shape)}")
            elif array.tobytes() != expected.tobytes():
                problems.append(f"{name}: numpy values {array.tolist()} != {expected.tolist()}")

    for p in problems:
        print(f"check_safetensors: {path}: {p}", file=sys.stderr)
    if not problems:
        print(f"check_safetensors: {path}: OK ({len(entries)} tensors)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
