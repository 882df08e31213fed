#!/usr/bin/env python3
"""PyTorch's relu, dropout and cross-entropy at the kernel lab's sizes, with the lab's columns.

The kernel lab (bench/kernels/*.cu, docs/kernel_lab.md) times volt's versions of each op beside the
fewest bytes the op must move and a device copy measured in the same run. This script times
PyTorch's own kernels the same way, on the same GPU, so the rows can be read side by side:

    relu            torch.relu(x), n elements
    dropout         torch.native_dropout(x, p, True): y and a bool mask
    cross_entropy   F.cross_entropy(logits, target) (the mean) and torch.autograd.grad of it:
                    forward + backward, logits [rows, classes], int64 targets, two rows ignored

Each: 10 untimed runs, then --runs runs timed with CUDA events, each after an untimed write of
twice the L2's size; the median is printed. Columns, as the lab's:
    us       median time of one call
    p10-p90  spread of the timed runs, in % of the median
    GB/s     the op's floor bytes over the median (the lab's floor: for dropout a mask of x's
             dtype; PyTorch's bool mask moves less, and its own floor is printed too)
    %copy    that rate over the device copy's read+write rate
    xfloor   the median over the floor time at the copy's rate

PyTorch is not a dependency of volt (the GPU machine has it):
    python3 bench/kernels/torch_kernels.py [--json out.json] [--runs 50]
"""

import argparse
import json
import sys


def timing(torch, fn, warmup, runs, flush):
    for _ in range(warmup):
        fn()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
    for i in range(runs):
        flush.fill_(i & 0xFF)  # untimed: no run finds the last one's data in L2
        starts[i].record()
        fn()
        ends[i].record()
    torch.cuda.synchronize()
    us = sorted(1000.0 * s.elapsed_time(e) for s, e in zip(starts, ends))

    def at(q):
        return us[int(q * (len(us) - 1) + 0.5)]

    return at(0.5), at(0.1), at(0.9)


class Table:
    def __init__(self, torch, op, dtype, shape, floor_bytes, floor_what, copy_bytes, timer, json_path):
        self.op, self.dtype, self.shape, self.floor, self.json_path = op, dtype, shape, floor_bytes, json_path
        a = torch.empty(copy_bytes, dtype=torch.uint8, device="cuda").fill_(0x5A)
        b = torch.empty_like(a)
        median, _, _ = timer(lambda: b.copy_(a))
        self.copy_gbps = 2.0 * copy_bytes / (median * 1e3)
        del a, b
        print(f"\n{op} {dtype} {shape}")
        print(f"  floor: {floor_bytes / 1e6:.1f} MB ({floor_what})")
        print(f"  device copy: {self.copy_gbps:.0f} GB/s counting read + written bytes, so the floor is "
              f"{floor_bytes / (self.copy_gbps * 1e3):.1f} us")
        print(f"  {'version':<34} {'us':>10} {'p10-p90':>8} {'GB/s':>8} {'%copy':>6} {'xfloor':>7}  note")

    def row(self, version, t, note=""):
        median, p10, p90 = t
        gbps = self.floor / (median * 1e3)
        spread = 100.0 * (p90 - p10) / median if median > 0 else 0.0
        print(f"  {version:<34} {median:10.1f} {spread:7.1f}% {gbps:8.0f} {100 * gbps / self.copy_gbps:6.1f} "
              f"{self.copy_gbps / gbps:7.2f}  {note}", flush=True)
        if self.json_path:
            with open(self.json_path, "a") as f:
                f.write(json.dumps({
                    "op": self.op, "dtype": self.dtype, "shape": self.shape, "version": version, "impl": "pytorch",
                    "us": round(median, 3), "p10_us": round(p10, 3), "p90_us": round(p90, 3),
                    "floor_bytes": self.floor, "gbps": round(gbps, 1), "copy_gbps": round(self.copy_gbps, 1),
                    "x_floor": round(self.copy_gbps / gbps, 3), "note": note}) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64 << 20, help="relu and dropout elements")
    parser.add_argument("--p", type=float, default=0.5, help="dropout probability")
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--classes", type=int, default=32768)
    parser.add_argument("--relu-dtype", default="f32,bf16")
    parser.add_argument("--dropout-dtype", default="f32")
    parser.add_argument("--ce-dtype", default="f32,bf16")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--json", default="", help="append one JSON line per row to this file")
    args = parser.parse_args()

    try:
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f"torch_kernels: PyTorch is not installed here ({e}); it is only on the GPU machine", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("torch_kernels: no usable CUDA GPU, nothing to time", file=sys.stderr)
        return 2

    props = torch.cuda.get_device_properties(0)
    print(f"torch_kernels on {props.name} ({props.multi_processor_count} SMs), torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}")
    flush = torch.empty(2 * getattr(props, "L2_cache_size", 64 << 20), dtype=torch.uint8, device="cuda")

    def timer(fn):
        return timing(torch, fn, args.warmup, args.runs, flush)

    dtypes = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
    gen = torch.Generator(device="cuda").manual_seed(0)

    for name in filter(None, args.relu_dtype.split(",")):
        dt = dtypes[name]
        x = torch.randn(args.n, device="cuda", dtype=dt, generator=gen)
        s = x.element_size()
        table = Table(torch, "relu", name, f"n={args.n}", 2.0 * args.n * s,
                      f"read {s} B + write {s} B per element", args.n * s, timer, args.json)
        table.row("pytorch torch.relu", timer(lambda: torch.relu(x)))
        del x

    for name in filter(None, args.dropout_dtype.split(",")):
        dt = dtypes[name]
        x = torch.randn(args.n, device="cuda", dtype=dt, generator=gen)
        s = x.element_size()
        table = Table(torch, "dropout", name, f"n={args.n} p={args.p:g}", 3.0 * args.n * s,
                      f"read x {s} B, write y {s} B and the mask {s} B per element", args.n * s, timer, args.json)
        own = (2.0 * s + 1.0) * args.n  # y in x's dtype, a 1-byte bool mask
        t = timer(lambda: torch.native_dropout(x, args.p, True))
        own_x_floor = t[0] * 1e3 * table.copy_gbps / own
        table.row("pytorch torch.native_dropout", t,
                  f"bool mask: against its own floor of {own / 1e6:.1f} MB, x{own_x_floor:.2f}")
        del x

    for name in filter(None, args.ce_dtype.split(",")):
        dt = dtypes[name]
        logits = (2.0 * torch.randn(args.rows, args.classes, device="cuda", generator=gen)).to(dt)
        logits.requires_grad_(True)
        target = torch.randint(0, args.classes, (args.rows,), device="cuda", generator=gen)
        if args.rows >= 4:
            target[1] = -100
            target[args.rows - 2] = -100
        s = logits.element_size()
        table = Table(torch, "cross_entropy", name, f"[{args.rows}, {args.classes}]",
                      2.0 * args.rows * args.classes * s + 20.0 * args.rows,
                      f"read the logits {s} B + write their gradient {s} B per element; 20 B a row",
                      args.rows * args.classes * s, timer, args.json)

        def forward_backward():
            loss = F.cross_entropy(logits, target)
            return torch.autograd.grad(loss, logits)

        table.row("pytorch F.cross_entropy fwd+bwd", timer(forward_backward),
                  "log_softmax + nll_loss, then their backwards")
        del logits
    return 0


if __name__ == "__main__":
    sys.exit(main())
