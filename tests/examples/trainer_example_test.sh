#!/usr/bin/env bash
# The README's Trainer example for one epoch on the real data: it learns (val_acc above 0.78),
# its CSVLogger run has Lightning's metrics.csv layout, and scripts/plot_metrics.py draws it.
# Exits 77 (CTest: skipped) without the Fashion-MNIST files.
set -euo pipefail
bin=$1
src=$(cd "$(dirname "$0")/../.." && pwd)
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "skipped: no Fashion-MNIST in $data"; exit 77; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$out" && "$bin" 1 >"$out/log" 2>&1) || { echo "trainer_example failed:"; cat "$out/log"; exit 1; }
acc=$(sed -n 's/^val_acc \([0-9.]*\)$/\1/p' "$out/log")
awk -v a="$acc" 'BEGIN { exit !(a > 0.78) }' || { echo "val_acc '$acc' after one epoch:"; cat "$out/log"; exit 1; }
metrics=$(find "$out/out/trainer_example" -name metrics.csv | head -1)
[ -n "$metrics" ] || { echo "no metrics.csv under $out/out/trainer_example"; exit 1; }
[ "$(head -1 "$metrics")" = "step,epoch,train_loss,val_acc,val_loss" ] || { echo "metrics.csv header: $(head -1 "$metrics")"; exit 1; }
py=/usr/bin/python3  # Debian's, where python3-matplotlib lives (build/venv's comes first on PATH)
[ -x "$py" ] || py=python3
"$py" "$src/scripts/plot_metrics.py" "$metrics" --out "$out/metrics.png" >/dev/null || { echo "plot_metrics.py failed"; exit 1; }
[ "$(head -c 8 "$out/metrics.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "metrics.png is not a PNG"; exit 1; }
echo "trainer_example: val_acc $acc after one epoch; metrics.png drawn"
