#!/usr/bin/env python3
"""Plots a CSVLogger run (the Trainer's DIR/version_N/metrics.csv, Lightning's layout: step,
epoch and a column per logged metric, blank where a row does not log it) as one PNG: losses,
accuracies and learning rates each in their panel against the step; any other metric in a
panel of its own. Writes metrics.png beside the CSV (or --out FILE).

    /usr/bin/python3 scripts/plot_metrics.py out/trainer_example/version_0/metrics.csv [--out FILE]

Uses matplotlib (Debian's python3-matplotlib, which scripts/bootstrap installs).
"""

import argparse
import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def panel_of(name):
    lowered = name.lower()
    if "loss" in lowered:
        return "loss"
    if "acc" in lowered:
        return "accuracy"
    if lowered == "lr" or lowered.startswith("lr-") or lowered.startswith("lr_"):
        return "learning rate"
    return name


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("metrics", help="a CSVLogger metrics.csv")
    parser.add_argument("--out", help="the PNG to write (default: metrics.png beside the CSV)")
    args = parser.parse_args()
    try:
        with open(args.metrics) as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = reader.fieldnames or []
    except OSError as e:
        sys.exit(f"plot_metrics: {e}")
    if "step" not in columns:
        sys.exit(f"plot_metrics: {args.metrics} has no step column (columns: {', '.join(columns)})")
    metrics = [c for c in columns if c not in ("step", "epoch")]
    series = {}
    for name in metrics:
        points = []
        for r in rows:
            try:
                x, y = float(r["step"]), float(r[name])
            except (TypeError, ValueError):
                continue
            if math.isfinite(y):
                points.append((x, y))
        if points:
            series[name] = points
    if not series:
        sys.exit(f"plot_metrics: {args.metrics} holds no metric values")
    panels = []
    for name in series:
        if panel_of(name) not in panels:
            panels.append(panel_of(name))
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 3 * len(panels)), squeeze=False, sharex=True)
    for ax, panel in zip((a[0] for a in axes), panels):
        for name, points in series.items():
            if panel_of(name) == panel:
                ax.plot(*zip(*points), marker="." if len(points) < 50 else None, label=name)
        ax.set_ylabel(panel)
        if panel == "learning rate":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    axes[-1][0].set_xlabel("step")
    fig.suptitle(os.path.dirname(os.path.abspath(args.metrics)))
    fig.tight_layout()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.metrics)), "metrics.png")
    fig.savefig(out, dpi=110)
    print(f"plot_metrics: wrote {out}")


if __name__ == "__main__":
    main()
