#!/usr/bin/env python3
"""The main job's training speed at 1 and 2 ranks, and DistributedDataParallel's cost at 1.

Three configurations of build/examples/fashion_mnist, one thread per process, run in turn
(plain, ddp 1 rank, ddp 2 ranks, plain, ...) so that all see the same machine:
  plain     --strategy auto: one process, no DDP
  ddp x1    --strategy ddp under mpirun -np 1: DDP's hooks, buckets and all-reduce at world 1
  ddp x2    --strategy ddp under mpirun -np 2: two ranks, each its half of every epoch
  plain x2  two plain runs at once, not talking: what two processes get from the machine, the
            ceiling for ddp x2 (their samples/s summed)
Each run trains --epochs epochs of the default recipe (batch 64 per rank) and reports its
samples/s (all ranks' samples over the training loop's time, as the job's metrics.csv records
it); the figure per run is the median over its epochs but the first. Printed: the median per
configuration over --repeats runs, and the ratios of each pair taken run by run.

    python3 bench/ddp_scaling.py --volt build/examples/fashion_mnist [--epochs 4] [--repeats 5]
        [--batch-size N] [--mca KEY=VALUE ...]
"""

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

CONFIGS = ["plain", "ddp x1", "ddp x2", "plain x2"]


def command(volt, config, epochs, batch_size, data, mca, out):
    cmd = [volt, "--epochs", str(epochs), "--batch-size", str(batch_size), "--threads", "1", "--out", out]
    if data:
        cmd += ["--data", data]
    if config.startswith("ddp"):
        ranks = config[-1]
        mpi = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1", "-np", ranks,
               "--bind-to", "none"]
        for setting in mca:
            key, _, value = setting.partition("=")
            mpi += ["--mca", key, value]
        cmd = mpi + cmd + ["--strategy", "ddp"]
    return cmd


def rate(out):
    with open(os.path.join(out, "metrics.csv")) as f:
        rates = [float(row["samples_per_second"]) for row in csv.DictReader(f)]
    return statistics.median(rates[1:] if len(rates) > 1 else rates)


def run(volt, config, epochs, batch_size, data, mca, out):
    outs = [out + "-a", out + "-b"] if config == "plain x2" else [out]
    cmds = [command(volt, config, epochs, batch_size, data, mca, o) for o in outs]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    for cmd, proc in zip(cmds, procs):
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{stdout}\n{stderr}")
    return sum(rate(o) for o in outs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--volt", default="build/examples/fashion_mnist")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64, help="per rank (default 64, the recipe's)")
    parser.add_argument("--data", default=None)
    parser.add_argument("--mca", action="append", default=[], help="an Open MPI setting for the ddp runs, KEY=VALUE")
    args = parser.parse_args()
    if shutil.which("mpirun") is None:
        sys.exit("ddp_scaling: needs mpirun (OpenMPI)")
    rates = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for c in CONFIGS:
                out = os.path.join(tmp, f"{r}-{c}".replace(" ", "-"))
                rates[c].append(run(args.volt, c, args.epochs, args.batch_size, args.data, args.mca, out))
            print(f"run {r + 1}: " + ", ".join(f"{c} {rates[c][-1]:.0f}" for c in CONFIGS), flush=True)

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(rates[a], rates[b]))

    print("\nsamples/s (median of runs):")
    for c in CONFIGS:
        print(f"  {c:8s} {statistics.median(rates[c]):9.0f}")
    print("ratios (median of the per-run ratios):")
    print(f"  ddp x2 / ddp x1  {ratio('ddp x2', 'ddp x1'):.2f}")
    print(f"  ddp x2 / plain   {ratio('ddp x2', 'plain'):.2f}")
    print(f"  ddp x1 / plain   {ratio('ddp x1', 'plain'):.2f}  (DDP's cost at world size 1)")
    print(f"  plain x2 / plain {ratio('plain x2', 'plain'):.2f}  (the machine's ceiling for two processes)")


if __name__ == "__main__":
    main()
