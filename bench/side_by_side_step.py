#!/usr/bin/env python3
"""PyTorch's SimpleNet training step, eager and captured as one CUDA graph, for volt's step_time.

The step is the one bench/step_time.cpp times: 784 -> 100, ReLU, Dropout(0.5), 100 -> 10,
cross-entropy, Adam 1e-3, on random data already on the GPU, f32 with TF32 products allowed
(step_time's 32-true sets the same matmul precision). Two ways to run it:

    eager  zero_grad(set_to_none=True), forward, backward, Adam.step(), every step from Python
    graph  the whole step captured once with torch.cuda.graph (static inputs, Adam with
           capturable=True so its step count lives on the GPU; warm-up steps on a side stream
           first, as PyTorch's CUDA-graph notes ask), then each step is g.replay(); dropout draws
           a new mask every replay

Timing is step_time's: --warmup steps (replays), then --steps steps between two synchronisations
of the device, wall clock over the steps; the median of --rounds rounds, each on a fresh model.
Prints one JSON line per (batch, mode), as step_time does:
    {"impl": "pytorch", "device": "cuda", "batch": 64, "precision": "32-true", "cuda_graph": true,
     "ms_per_step": ..., "rounds_ms": [...]}
and appends the same lines to --json PATH when given. bench/gpu_side_by_side.sh pairs them with
step_time's.

PyTorch is not a dependency of volt; the GPU machine has it:
    python3 bench/side_by_side_step.py [--batches 64,1024] [--modes eager,graph] [--steps 200]
"""

import argparse
import json
import statistics
import sys
import time


def build(torch, device, batch, capturable):
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(100, 10)
    ).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, capturable=capturable)
    x = torch.rand(batch, 784, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    return net, opt, x, y


def eager_ms(torch, device, batch, steps, warmup):
    F = torch.nn.functional
    net, opt, x, y = build(torch, device, batch, capturable=False)

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000 / steps


def graph_ms(torch, device, batch, steps, warmup):
    F = torch.nn.functional
    net, opt, x, y = build(torch, device, batch, capturable=True)

    # Warm-up on a side stream before capture: the allocator, cuBLAS and Adam's state settle.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)

    # Gradients are None going in, so the captured backward allocates them from the graph's
    # pool and every replay writes them afresh (no accumulation across replays).
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(max(warmup, 1)):
        graph.replay()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        graph.replay()
    torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1000 / steps
    if not torch.isfinite(loss).item():
        raise RuntimeError(f"the captured step's loss is {loss.item()} after {steps} replays")
    return ms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", default="64,1024")
    parser.add_argument("--modes", default="eager,graph")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default="", help="append the JSON lines to this file too")
    args = parser.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"side_by_side_step: PyTorch is not installed here ({e}); it is only on the GPU machine",
              file=sys.stderr)
        return 2
    if args.device != "cuda" or not torch.cuda.is_available():
        print(f"side_by_side_step: needs a usable CUDA GPU (device {args.device}, "
              f"torch.cuda.is_available() = {torch.cuda.is_available()})", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = True  # step_time's 32-true: set_matmul_precision("high")
    torch.backends.cudnn.allow_tf32 = True
    print(f"side_by_side_step on {torch.cuda.get_device_name()}, torch {torch.__version__}: "
          f"{args.steps} steps after {args.warmup}, median of {args.rounds} rounds", file=sys.stderr)

    runners = {"eager": eager_ms, "graph": graph_ms}
    for batch in (int(b) for b in args.batches.split(",") if b):
        for mode in (m for m in args.modes.split(",") if m):
            if mode not in runners:
                print(f"side_by_side_step: unknown mode {mode} (eager, graph)", file=sys.stderr)
                return 2
            rounds = [runners[mode](torch, args.device, batch, args.steps, args.warmup) for _ in range(args.rounds)]
            line = json.dumps({"impl": "pytorch", "device": args.device, "batch": batch, "precision": "32-true",
                               "cuda_graph": mode == "graph", "ms_per_step": statistics.median(rounds),
                               "rounds_ms": [round(r, 4) for r in rounds]})
            print(line, flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
