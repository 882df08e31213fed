#!/usr/bin/env bash
# End to end: one epoch of the main job on the real data, its files read back by volt
# (--load --epochs 0) and by the reference safetensors + numpy, and bad weight files refused.
# Exits 77 (CTest: skipped) when the Fashion-MNIST files are not installed.
set -euo pipefail
bin=$1
src=$2
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "skipped: no Fashion-MNIST files in $data (scripts/bootstrap installs dataset-fashion-mnist)"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$bin" --epochs 1 --seed 3 --out "$out/run" --summary-json "$out/summary.json" >"$out/log"
accuracy=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['test_accuracy'])" "$out/summary.json")
python3 -c "import sys; a=float(sys.argv[1]); sys.exit(0 if a >= 0.78 else 1)" "$accuracy" ||
  { echo "one epoch reached only $accuracy"; exit 1; }
for f in model.safetensors optimizer.safetensors metrics.csv; do
  [ -s "$out/run/$f" ] || { echo "missing $f"; exit 1; }
done
[ "$(wc -l <"$out/run/metrics.csv")" -eq 2 ] || { echo "metrics.csv should hold a header and one epoch"; exit 1; }

# The saved weights evaluate to the same accuracy in volt and in an independent numpy forward.
"$bin" --load "$out/run/model.safetensors" --epochs 0 --out "$out/eval" --summary-json "$out/eval.json" >/dev/null
python3 - "$out/summary.json" "$out/eval.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["test_accuracy"] for p in sys.argv[1:3])
sys.exit(0 if a == b else f"--load --epochs 0 gave {b}, training ended at {a}")
PY
python3 "$src/scripts/check_fashion_mnist_model.py" "$out/run/model.safetensors" "$data" --expect "$accuracy"

# Bad weight files: an error and a non-zero exit, no crash.
head -c 100 "$out/run/model.safetensors" >"$out/truncated.safetensors"
if "$bin" --load "$out/truncated.safetensors" --epochs 0 --out "$out/bad" 2>"$out/err"; then
  echo "a truncated weight file was accepted"; exit 1
fi
grep -q "truncated.safetensors" "$out/err" || { echo "error does not name the file:"; cat "$out/err"; exit 1; }
if "$bin" --load "$out/run/optimizer.safetensors" --epochs 0 --out "$out/bad" 2>"$out/err"; then
  echo "an optimizer file was accepted as a model"; exit 1
fi
grep -q "missing key: fc1.weight" "$out/err" || { echo "unexpected error:"; cat "$out/err"; exit 1; }
echo "fashion_mnist end to end: one epoch, test accuracy $accuracy, files read back by volt and numpy"
