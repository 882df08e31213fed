#!/usr/bin/env python3
"""Independent check of a model.safetensors written by examples/fashion_mnist.

Loads the file with the reference safetensors implementation, checks it has exactly the
state dict of the PyTorch twin (fc1.weight [100, 784], fc1.bias [100], fc2.weight [10, 100],
fc2.bias [10], float32), runs the network's eval-mode forward pass in numpy over the
Fashion-MNIST test set and prints the accuracy.

usage: check_fashion_mnist_model.py MODEL [DATA_DIR] [--expect ACCURACY]
Exits 1 when the file does not match the expected layout or the accuracy differs from
--expect by more than 0.001.
"""
import gzip
import os
import sys

import numpy as np
from safetensors.numpy import load_file

EXPECTED = {"fc1.weight": (100, 784), "fc1.bias": (100,), "fc2.weight": (10, 100), "fc2.bias": (10,)}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    expect = float(argv[argv.index("--expect") + 1]) if "--expect" in argv else None
    if expect is not None:
        args.remove(argv[argv.index("--expect") + 1])
    model = args[0]
    data_dir = args[1] if len(args) > 1 else os.environ.get("VOLT_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist"

    state = load_file(model)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    if shapes != EXPECTED or any(v.dtype != np.float32 for v in state.values()):
        print(f"unexpected state dict: {shapes}, dtypes {[str(v.dtype) for v in state.values()]}")
        return 1

    images = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")).reshape(-1, 784).astype(np.float32) / 255
    labels = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"))
    hidden = np.maximum(images @ state["fc1.weight"].T + state["fc1.bias"], 0)  # dropout is off in eval
    logits = hidden @ state["fc2.weight"].T + state["fc2.bias"]
    accuracy = float((logits.argmax(1) == labels).mean())
    print(f"numpy forward of {model}: test accuracy {accuracy:.4f}")
    if expect is not None and abs(accuracy - expect) > 1e-3:
        print(f"expected {expect:.4f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
