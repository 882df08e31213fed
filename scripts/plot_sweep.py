#!/usr/bin/env python3
"""Plots a sweep folder (fashion_mnist sweep --out DIR) as one PNG.

Top row: the metric against each parameter, one point per trial (a log axis for a parameter whose
values span more than a decade; categories for words), stopped and failed trials marked. Bottom:
every trial's metric by epoch, the best trial drawn thick. Reads DIR/results.csv,
DIR/sweep.json and DIR/trial-NNN/metrics.csv; writes DIR/sweep.png (or --out FILE).

    python3 scripts/plot_sweep.py DIR [--out FILE]

Uses matplotlib (Debian's python3-matplotlib, which scripts/bootstrap installs).
"""

import argparse
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def number(text):
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sweep", help="the sweep's folder")
    parser.add_argument("--out", help="the PNG to write (default SWEEP/sweep.png)")
    args = parser.parse_args()

    try:
        with open(os.path.join(args.sweep, "sweep.json")) as f:
            record = json.load(f)
        with open(os.path.join(args.sweep, "results.csv")) as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError) as e:
        sys.exit(f"plot_sweep: {args.sweep} is not a sweep folder: {e}")
    metric, mode = record["metric"], record["mode"]
    params = [spec.split("=", 1)[0] for spec in record["space"]]
    if not rows:
        sys.exit(f"plot_sweep: {args.sweep}/results.csv has no trials")

    scored = [r for r in rows if number(r[f"best_{metric}"]) is not None]
    best = None
    if scored:
        pick = max if mode == "max" else min
        best = pick(scored, key=lambda r: float(r[f"best_{metric}"]))

    fig, axes = plt.subplots(2, max(1, len(params)), figsize=(4.2 * max(1, len(params)), 7.5), squeeze=False)
    styles = {"completed": ("o", "tab:blue"), "stopped": ("v", "tab:orange"), "failed": ("x", "tab:red"),
              "interrupted": ("s", "tab:gray")}
    for i, name in enumerate(params):
        ax = axes[0][i]
        values = [r[name] for r in scored]
        numeric = all(number(v) is not None for v in values)
        if numeric:
            xs = [float(v) for v in values]
        else:
            categories = sorted(set(values))
            xs = [categories.index(v) for v in values]
            ax.set_xticks(range(len(categories)), categories)
        for status, (marker, colour) in styles.items():
            pts = [(x, float(r[f"best_{metric}"])) for x, r in zip(xs, scored) if r["status"] == status]
            if pts:
                ax.scatter(*zip(*pts), marker=marker, color=colour, label=status)
        if numeric and xs and min(xs) > 0 and max(xs) / min(xs) > 10:
            ax.set_xscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel(f"best {metric}")
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize="small")

    curves = fig.add_subplot(2, 1, 2)
    for ax in axes[1]:
        ax.remove()
    for r in rows:
        path = os.path.join(args.sweep, f"trial-{int(r['trial']):03d}", "metrics.csv")
        try:
            with open(path) as f:
                points = [(int(m["epoch"]), number(m.get(metric, ""))) for m in csv.DictReader(f)]
        except (OSError, ValueError, KeyError):
            continue
        points = [(e, v) for e, v in points if v is not None]
        if not points:
            continue
        thick = best is not None and r["trial"] == best["trial"]
        label = " ".join(f"{p}={r[p]}" for p in params)
        curves.plot(*zip(*points), marker=".", linewidth=2.5 if thick else 1, alpha=1 if thick else 0.6,
                    label=f"trial {r['trial']}: {label}" if thick or len(rows) <= 10 else None)
    curves.set_xlabel("epoch")
    curves.set_ylabel(metric)
    curves.grid(alpha=0.3)
    if curves.get_legend_handles_labels()[0]:
        curves.legend(fontsize="x-small")
    title = f"{record['search']} search, {len(rows)} trials"
    if best is not None:
        title += f"; best: trial {best['trial']}, {metric} {float(best[f'best_{metric}']):.4g}"
    fig.suptitle(title)
    fig.tight_layout()
    out = args.out or os.path.join(args.sweep, "sweep.png")
    fig.savefig(out, dpi=110)
    print(f"plot_sweep: wrote {out}")


if __name__ == "__main__":
    main()
