#!/usr/bin/env python3
"""volt's training step beside PyTorch's torch.autocast step, on the same GPU, in one run.

Both take the main job's step (784 -> 100, ReLU, dropout 0.5, 100 -> 10, cross-entropy, Adam
1e-3) on random data at one batch size (default 131072) for each precision: 32-true (TF32
products allowed on both sides), bf16-mixed (autocast to bf16) and 16-mixed (autocast to f16
with a GradScaler). Runs alternate (PyTorch, volt, PyTorch, volt, ...) so that both see the
same machine; each run times --steps steps after --warmup, synchronising at both ends. The
ratio printed is PyTorch's median ms/step over volt's.

PyTorch is not a dependency of volt; the GPU machine has it:
    python3 bench/side_by_side_gpu.py --volt build/bench/step_time [--batch 131072] [--rounds 3]
Use --device cpu to try the script on a machine without a GPU (small batches).
"""

import argparse
import json
import statistics
import subprocess
import time


def torch_step_ms(torch, device, batch, precision, steps, warmup):
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    net = torch.nn.Sequential(
        torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(100, 10)
    ).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.rand(batch, 784, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    half = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}.get(precision)
    scaler = torch.amp.GradScaler(device, enabled=precision == "16-mixed")

    def step():
        with torch.autocast(device, dtype=half or torch.float32, enabled=half is not None):
            loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def wait():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    wait()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    wait()
    return (time.perf_counter() - start) * 1000 / steps


def volt_step_ms(binary, device, batch, precision, steps, warmup):
    out = subprocess.run(
        [binary, "--device", device, "--batch", str(batch), "--precision", precision, "--steps", str(steps),
         "--warmup", str(warmup)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["ms_per_step"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volt", required=True, help="build/bench/step_time")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=131072)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--precisions", default="32-true,bf16-mixed,16-mixed")
    args = parser.parse_args()
    import torch

    device_name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"device {device_name}, torch {torch.__version__}, batch {args.batch}, "
          f"{args.steps} steps after {args.warmup}, {args.rounds} rounds")
    for precision in args.precisions.split(","):
        torch_ms, volt_ms = [], []
        for _ in range(args.rounds):
            torch_ms.append(torch_step_ms(torch, args.device, args.batch, precision, args.steps, args.warmup))
            volt_ms.append(volt_step_ms(args.volt, args.device, args.batch, precision, args.steps, args.warmup))
        t, v = statistics.median(torch_ms), statistics.median(volt_ms)
        print(f"{precision:>11}: pytorch {t:8.3f} ms/step  volt {v:8.3f} ms/step  pytorch/volt {t / v:5.2f}x  "
              f"(pytorch {', '.join(f'{m:.3f}' for m in torch_ms)}; volt {', '.join(f'{m:.3f}' for m in volt_ms)})")


if __name__ == "__main__":
    main()
