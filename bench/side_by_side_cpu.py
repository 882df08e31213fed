#!/usr/bin/env python3
"""volt's main job beside PyTorch's loop for the same recipe, on the same CPU cores (or the same
GPU, --device cuda: both with the data on the GPU), in one run.

Both train the main job's network (784 -> 100, ReLU, dropout 0.5, 100 -> 10, cross-entropy)
on Fashion-MNIST with Adam (lr 1e-3), batch 64, shuffled every epoch, and evaluate on the test
set after each epoch. Runs alternate (PyTorch, volt, PyTorch, volt, ...) so that both see the
same machine. An epoch's time is its training loop only, as volt's metrics.csv records it.

PyTorch is not a dependency of volt: install it outside the repository, e.g.
    python3 -m venv /opt/torch-venv && /opt/torch-venv/bin/pip install torch numpy
and run this script with that interpreter:
    /opt/torch-venv/bin/python bench/side_by_side_cpu.py --volt build/examples/fashion_mnist

The ratio printed per run is PyTorch's best epoch over volt's mean epoch (the conservative
reading), beside the ratio of the means.

On a GPU (the GPU machine has PyTorch): --device cuda --epochs 10 --runs 1. PyTorch's loop
keeps the data on the GPU and is eager; volt's main job runs with its defaults there (the data
on the device, the step as one CUDA graph).
"""

import argparse
import csv
import gzip
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def read_idx(path):
    import numpy as np

    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def torch_run(data_dir, epochs, batch_size, threads, seed, device):
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    def load(prefix):
        images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
        x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
        return x, torch.from_numpy(labels.astype(np.int64))

    train_x, train_y = (t.to(device) for t in load("train"))
    test_x, test_y = (t.to(device) for t in load("t10k"))

    def wait():
        if device != "cpu":
            torch.cuda.synchronize()

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(784, 100)
            self.dropout = torch.nn.Dropout(0.5)
            self.fc2 = torch.nn.Linear(100, 10)

        def forward(self, x):
            return self.fc2(self.dropout(F.relu(self.fc1(x))))

    net = Net().to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    epoch_seconds, accuracy = [], 0.0
    n = len(train_x)
    for _ in range(epochs):
        net.train()
        wait()
        start = time.perf_counter()
        perm = torch.randperm(n, device=device)
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(net(train_x[idx]), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        wait()
        epoch_seconds.append(time.perf_counter() - start)
        net.eval()
        with torch.no_grad():
            correct = sum(
                (net(test_x[i : i + 1000]).argmax(1) == test_y[i : i + 1000]).sum().item()
                for i in range(0, len(test_x), 1000)
            )
        accuracy = correct / len(test_x)
    return epoch_seconds, accuracy, f"PyTorch {torch.__version__}"


def volt_run(binary, data_dir, epochs, batch_size, threads, seed, device):
    with tempfile.TemporaryDirectory() as out:
        cmd = [binary, "--epochs", str(epochs), "--batch-size", str(batch_size), "--threads", str(threads),
               "--seed", str(seed), "--data", data_dir, "--out", out, "--val-size", "0",  # all 60000, as PyTorch's
               "--device", device]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "metrics.csv")) as f:
            rows = list(csv.DictReader(f))
    return [float(r["train_seconds"]) for r in rows], float(rows[-1]["test_accuracy"]), "volt"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--volt", default="build/examples/fashion_mnist", help="volt's main job binary")
    p.add_argument("--data", default=os.environ.get("VOLT_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2, help="threads for both (torch.set_num_threads, --threads)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--device", default="cpu", help="cpu, or cuda: both frameworks on the GPU, data there too")
    args = p.parse_args()

    where = f"CPU: {cpu_name()}"
    if args.device != "cpu":
        import torch

        where = f"GPU: {torch.cuda.get_device_name(0)}"
    print(f"{args.runs} runs, {args.epochs} epochs each, batch {args.batch_size}, {args.threads} threads, {where}")
    print(f"{'run':>3}  {'framework':<22} {'epochs (s)':<28} {'mean':>7} {'best':>7} {'acc.':>7}")
    ratios_best, ratios_mean = [], []
    for run in range(1, args.runs + 1):
        results = [torch_run(args.data, args.epochs, args.batch_size, args.threads, run, args.device),
                   volt_run(args.volt, args.data, args.epochs, args.batch_size, args.threads, run, args.device)]
        for seconds, acc, name in results:
            shown = " ".join(f"{s:.3f}" for s in seconds)
            print(f"{run:>3}  {name:<22} {shown:<28} {statistics.mean(seconds):7.3f} {min(seconds):7.3f} {acc:7.4f}")
        (t, _, _), (v, _, _) = results
        ratios_best.append(min(t) / statistics.mean(v))
        ratios_mean.append(statistics.mean(t) / statistics.mean(v))
        print(f"     volt is {ratios_best[-1]:.2f}x PyTorch (PyTorch's best epoch / volt's mean epoch), "
              f"{ratios_mean[-1]:.2f}x by the means")
    print(f"over {args.runs} runs: {min(ratios_best):.2f}-{max(ratios_best):.2f}x (best/mean), "
          f"{min(ratios_mean):.2f}-{max(ratios_mean):.2f}x (mean/mean)")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
