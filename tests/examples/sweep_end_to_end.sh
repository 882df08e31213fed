#!/usr/bin/env bash
# The main job's hyperparameter sweep and lr-find end to end: a grid of four one-epoch trials on the real
# data, two at a time. results.csv holds four completed rows, the reported best is the row with
# the best validation accuracy (the held-out split's, the sweep's default metric), and the best trial's printed command, run again, reaches the same
# accuracy (one thread each: bitwise-reproducible runs). Bad search specs are refused first,
# with the reason. Exits 77 (CTest: skipped) without the Fashion-MNIST files.
set -euo pipefail
bin=$1
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

refuse() {
  local want=$1 rc=0
  shift
  "$bin" sweep "$@" >/dev/null 2>"$out/err" || rc=$?
  [ "$rc" -eq 1 ] || { echo "fashion_mnist sweep $* exited $rc, expected 1:"; cat "$out/err"; exit 1; }
  grep -qF -- "$want" "$out/err" || { echo "fashion_mnist sweep $*: the error does not say \"$want\":"; cat "$out/err"; exit 1; }
}
refuse "--out DIR is required" --param "lr=grid(0.1)"
refuse "unknown domain 'normal'" --out "$out/bad" --param "lr=normal(0,1)"
refuse "'lr=loguniform(1e-4,1e-1)' is a distribution" --out "$out/bad" --search grid --param "lr=loguniform(1e-4,1e-1)"
refuse "the search space is empty" --out "$out/bad"
refuse "would send every trial to one folder" --out "$out/bad" --param "lr=grid(0.1)" -- --out x

[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "skipped: no Fashion-MNIST in $data"; exit 77; }
"$bin" sweep --out "$out/sweep" --search grid --param "lr=grid(0.0003,0.003)" --param "optimizer=grid(adam,sgd)" \
  --parallel 2 -- --epochs 1 --threads 1 --data "$data" >"$out/sweep.log" 2>&1 ||
  { echo "the sweep failed:"; cat "$out/sweep.log"; exit 1; }
cat "$out/sweep.log"
rows=$(tail -n +2 "$out/sweep/results.csv" | grep -c ",completed," || true)
[ "$rows" -eq 4 ] || { echo "results.csv has $rows completed rows, expected 4:"; cat "$out/sweep/results.csv"; exit 1; }

# The best row by validation accuracy (column 5: trial,status,lr,optimizer,best_...) is the one reported.
best_row=$(tail -n +2 "$out/sweep/results.csv" | sort -t, -k5,5gr | head -1)
best_id=${best_row%%,*}
best_acc=$(echo "$best_row" | cut -d, -f5)
grep -q "^best: trial $best_id, val_accuracy " "$out/sweep.log" ||
  { echo "the sweep did not report trial $best_id ($best_acc) as the best:"; cat "$out/sweep.log"; exit 1; }

# Its command again, into another folder: the same accuracy.
command=$(grep -A1 "^best: trial" "$out/sweep.log" | tail -1)
again=$(echo "$command" | sed "s|$out/sweep/trial-[0-9]*|$out/again|")
eval "$again" >"$out/again.log" 2>&1 || { echo "the best trial's command failed: $again"; cat "$out/again.log"; exit 1; }
acc=$(tail -1 "$out/again/metrics.csv" | cut -d, -f4)  # epoch,train_loss,val_loss,val_accuracy,...
[ "$(printf '%.6g' "$acc")" = "$(printf '%.6g' "$best_acc")" ] ||
  { echo "the best trial's command reached $acc, the sweep recorded $best_acc"; exit 1; }
echo "sweep: the best trial ($best_id, val accuracy $best_acc) reproduces from its command line"

# The plot: a PNG drawn by matplotlib (scripts/bootstrap installs python3-matplotlib).
src=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3  # Debian's, where python3-matplotlib lives (build/venv's comes first on PATH)
[ -x "$py" ] || py=python3
"$py" "$src/scripts/plot_sweep.py" "$out/sweep" || { echo "plot_sweep.py failed (python3-matplotlib: scripts/bootstrap)"; exit 1; }
[ "$(head -c 8 "$out/sweep/sweep.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
  { echo "sweep.png is not a PNG"; exit 1; }

# lr-find: 100 steps of the range test, a suggestion inside the swept range, its plot; its
# flags are refused outside it, and 16-mixed (no scaler in the test) is refused.
"$bin" --min-lr 1e-6 --data "$data" --out "$out/x" >/dev/null 2>"$out/err" && { echo "--min-lr accepted without lr-find"; exit 1; }
grep -qF "unknown option --min-lr" "$out/err" || { echo "--min-lr outside lr-find:"; cat "$out/err"; exit 1; }
"$bin" lr-find --precision 16-mixed --data "$data" --out "$out/x" >/dev/null 2>"$out/err" && { echo "lr-find took 16-mixed"; exit 1; }
grep -qF "16-mixed needs a GradScaler" "$out/err" || { cat "$out/err"; exit 1; }
"$bin" lr-find --threads 1 --data "$data" --out "$out/lr" >"$out/lr.log" 2>&1 || { echo "lr-find failed:"; cat "$out/lr.log"; exit 1; }
cat "$out/lr.log"
suggestion=$(sed -n 's/^suggested learning rate \([^ ]*\) .*/\1/p' "$out/lr.log")
awk -v s="$suggestion" 'BEGIN { exit !(s > 1e-8 && s < 1) }' || { echo "suggestion '$suggestion' outside [1e-8, 1]"; exit 1; }
[ "$(wc -l <"$out/lr/lr_find.csv")" -eq 101 ] || { echo "lr_find.csv should hold 100 rows"; exit 1; }
[ ! -e "$out/lr/model.safetensors" ] || { echo "lr-find wrote a model"; exit 1; }
"$py" "$src/scripts/plot_lr_find.py" "$out/lr" >/dev/null || { echo "plot_lr_find.py failed"; exit 1; }
[ "$(head -c 8 "$out/lr/lr_find.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || { echo "lr_find.png is not a PNG"; exit 1; }
