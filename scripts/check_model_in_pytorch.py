#!/usr/bin/env python3
"""A model.safetensors of examples/fashion_mnist, loaded into PyTorch's twin of the network.

Builds torch.nn.Sequential(Linear(784, 100), ReLU, Dropout, Linear(100, 10)) with the file's
fc1.*/fc2.* tensors (safetensors.torch), evaluates the Fashion-MNIST test set in eval mode on
--device (cuda on the GPU machine, which has PyTorch; cpu elsewhere) and prints the accuracy.
PyTorch is not a dependency of volt: this runs where PyTorch is installed.

usage: check_model_in_pytorch.py MODEL DATA_DIR [--device cuda] [--expect ACCURACY]
Exits 1 when the accuracy differs from --expect (volt's own figure for the same file) in its
first four decimals, i.e. by 5e-5 or more.
"""
import argparse
import os
import sys

from check_fashion_mnist_model import read_idx  # this folder's numpy check: one IDX reader


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--expect", type=float)
    args = parser.parse_args()
    try:
        import torch
        from safetensors.torch import load_file
    except ImportError as e:
        print(f"check_model_in_pytorch: needs torch and safetensors ({e})", file=sys.stderr)
        return 2
    state = load_file(args.model)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(100, 10))
    names = {"fc1.weight": "0.weight", "fc1.bias": "0.bias", "fc2.weight": "3.weight", "fc2.bias": "3.bias"}
    if set(state) != set(names):
        print(f"check_model_in_pytorch: {args.model} holds {sorted(state)}, expected {sorted(names)}", file=sys.stderr)
        return 1
    net.load_state_dict({names[k]: v for k, v in state.items()})
    net = net.to(args.device).eval()
    images = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.reshape(len(images), -1).astype("float32") / 255.0).to(args.device)
    y = torch.from_numpy(labels.astype("int64")).to(args.device)
    with torch.no_grad():
        accuracy = (net(x).argmax(1) == y).float().mean().item()
    print(f"pytorch ({torch.__version__}, {args.device}) accuracy of {args.model}: {accuracy:.4f}")
    if args.expect is not None and abs(accuracy - args.expect) >= 5e-5:
        print(f"check_model_in_pytorch: volt said {args.expect:.4f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
