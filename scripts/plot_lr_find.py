#!/usr/bin/env python3
"""Plots fashion_mnist lr-find's output: the smoothed loss against the learning rate (log axis),
the suggested rate marked. Reads DIR/lr_find.csv and DIR/lr_find.json; writes DIR/lr_find.png
(or --out FILE). Uses matplotlib (Debian's python3-matplotlib, which scripts/bootstrap installs).

    /usr/bin/python3 scripts/plot_lr_find.py DIR [--out FILE]
"""

import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", help="the lr-find run's --out folder")
    parser.add_argument("--out", help="the PNG to write (default DIR/lr_find.png)")
    args = parser.parse_args()
    try:
        with open(os.path.join(args.dir, "lr_find.csv")) as f:
            rows = [(float(r["lr"]), float(r["loss"])) for r in csv.DictReader(f)]
        with open(os.path.join(args.dir, "lr_find.json")) as f:
            summary = json.load(f)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"plot_lr_find: {args.dir} holds no lr-find run: {e}")
    if not rows:
        sys.exit(f"plot_lr_find: {args.dir}/lr_find.csv has no rows")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(*zip(*rows), color="tab:blue", label="smoothed loss")
    suggestion = summary.get("suggestion")
    if suggestion is not None:
        at = min(rows, key=lambda r: abs(r[0] - suggestion))
        ax.scatter([at[0]], [at[1]], color="tab:red", s=60, zorder=3, label=f"suggestion {suggestion:.3g}")
    ax.set_xscale("log" if summary.get("mode", "exponential") == "exponential" else "linear")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"lr-find: {len(rows)} steps" + (", stopped early" if summary.get("stopped_early") else ""))
    fig.tight_layout()
    out = args.out or os.path.join(args.dir, "lr_find.png")
    fig.savefig(out, dpi=110)
    print(f"plot_lr_find: wrote {out}")


if __name__ == "__main__":
    main()
