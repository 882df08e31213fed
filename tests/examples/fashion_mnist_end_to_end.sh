#!/usr/bin/env bash
# End to end: bad numbers on the command line refused, one epoch of the main job on the real
# data, its files read back by volt (--load --epochs 0) and by the reference safetensors + numpy,
# an epoch at each mixed precision, ddp and dp, a run killed (SIGKILL) or stopped (SIGTERM)
# and resumed with --ckpt-path last ending with the uninterrupted run's weights byte for byte,
# and bad weight files refused. Exits 77 (CTest: skipped) when the Fashion-MNIST files are not
# installed, after the flag checks, which need no data.
set -euo pipefail
bin=$1
src=$2
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# refuse TEXT ARGS...: the program exits 1 (its error exit) with TEXT in its message. Flags are
# parsed before anything is read, and --data names no folder, so nothing trains if one slips by.
refuse() {
  local want=$1 rc=0
  shift
  "$bin" --data "$out/no-data" --out "$out/flags" "$@" >/dev/null 2>"$out/err" || rc=$?
  [ "$rc" -eq 1 ] || { echo "fashion_mnist $* exited $rc, expected 1:"; cat "$out/err"; exit 1; }
  grep -qF -- "$want" "$out/err" || { echo "fashion_mnist $*: the error does not say \"$want\":"; cat "$out/err"; exit 1; }
}
refuse "--seed: '-1' is negative" --seed -1
refuse "--seed: '18446744073709551616' is out of range" --seed 18446744073709551616
refuse "--seed: '+5' is not a whole number" --seed +5
refuse "--seed: '-x' is not a whole number" --seed -x
refuse "--epochs: '10x' is not a whole number" --epochs 10x
refuse "--epochs: expected a whole number, got an empty value" --epochs ""
refuse "--epochs: must be 0 (evaluate only) or more, got -1" --epochs -1
refuse "--epochs: '99999999999999999999' is out of range" --epochs 99999999999999999999
refuse "--batch-size: must be positive, got 0" --batch-size 0
refuse "--batch-size: must be positive, got -64" --batch-size -64
refuse "--batch-size: ' 64' is not a whole number" --batch-size " 64"
refuse "--batch-size: '6.4' is not a whole number" --batch-size 6.4
refuse "--lr: 'nan' is not a finite number" --lr nan
refuse "--lr: 'inf' is not a finite number" --lr inf
refuse "--lr: must be positive, got 0" --lr 0
refuse "--lr: must be positive, got -0.1" --lr -0.1
refuse "--lr: '1e400' is out of the range of a double" --lr 1e400
refuse "--lr: '0.1.2' is not a number" --lr 0.1.2
refuse "--lr: expected a number, got an empty value" --lr ""
refuse "--momentum: must be 0 or more, got -0.5" --momentum -0.5
refuse "--momentum: 'NaN' is not a finite number" --momentum NaN
refuse "--weight-decay: '-inf' is not a finite number" --weight-decay -inf
refuse "--weight-decay: must be 0 or more, got -0.001" --weight-decay -1e-3
refuse "--weight-decay: '1e-2x' is not a number" --weight-decay 1e-2x
refuse "missing value for --seed" --seed
refuse "--threads: must be at least 1, got 0" --threads 0
refuse "--threads: 'two' is not a whole number" --threads two
refuse "--flush-denormal: expected on or off, got 'yes'" --flush-denormal yes
refuse "--precision: expected 32-true, 16-mixed or bf16-mixed (or 32, 16, bf16), got '8'" --precision 8
refuse "--strategy: expected auto, ddp or dp, got 'dpp'" --strategy dpp
refuse "--strategy dp needs --devices" --strategy dp
refuse "--devices: entry 2 of 'cpu,gpu', 'gpu', is not a device" --strategy dp --devices cpu,gpu
refuse "--devices goes with --strategy dp" --devices cpu,cpu
refuse "--process-group-backend: expected auto, mpi or nccl, got 'gloo'" --process-group-backend gloo
refuse "--devices: must be at least 1, got 0" --strategy dp --devices 0
refuse "--val-size: must be 0 or more, got -1" --val-size -1
refuse "--val-check-interval: a fraction of the epoch must be in [0, 1], got '1.5'" --val-check-interval 1.5
refuse "--limit-train-batches: '1x' is not a whole number" --limit-train-batches 1x
refuse "--accumulate-grad-batches: must be at least 1, got 0" --accumulate-grad-batches 0
refuse "--gradient-clip-val: must be 0 or more, got -1" --gradient-clip-val -1
refuse "--gradient-clip-algorithm: expected norm or value, got 'l1'" --gradient-clip-algorithm l1
refuse "--deterministic: expected on or off, got 'yes'" --deterministic yes
refuse "--early-stopping-patience watches val_loss" --early-stopping-patience 2 --val-size 0
refuse "--checkpoint-every-n-steps: must be 0 (each epoch's end) or more, got -5" --checkpoint-every-n-steps -5

if [ ! -f "$data/train-images-idx3-ubyte.gz" ]; then
  echo "skipped: no Fashion-MNIST files in $data (scripts/bootstrap installs dataset-fashion-mnist)"
  exit 77
fi

"$bin" --epochs 1 --seed 3 --threads 2 --out "$out/run" --summary-json "$out/summary.json" >"$out/log"
accuracy=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['test_accuracy'])" "$out/summary.json")
python3 -c "import sys; a=float(sys.argv[1]); sys.exit(0 if a >= 0.78 else 1)" "$accuracy" ||
  { echo "one epoch reached only $accuracy"; exit 1; }
for f in model.safetensors optimizer.safetensors metrics.csv; do
  [ -s "$out/run/$f" ] || { echo "missing $f"; exit 1; }
done
[ "$(wc -l <"$out/run/metrics.csv")" -eq 2 ] || { echo "metrics.csv should hold a header and one epoch"; exit 1; }
grep -q "55000 train / 5000 val / 10000 test samples" "$out/log" || { echo "no held-out split in the log:"; cat "$out/log"; exit 1; }
grep -q "^done in .*best val accuracy .* at epoch 1; final test accuracy $accuracy" "$out/log" ||
  { echo "no closing line with the best and final figures:"; cat "$out/log"; exit 1; }
[ -s "$out/run/lightning_logs/version_0/metrics.csv" ] && [ -s "$out/run/lightning_logs/version_0/hparams.json" ] ||
  { echo "the Trainer's CSVLogger run is missing"; exit 1; }
[ -L "$out/run/checkpoints/last" ] || { echo "no checkpoints/last"; exit 1; }
rc=0
"$bin" --val-size 60000 --data "$data" --out "$out/flags" >/dev/null 2>"$out/err" || rc=$?
[ "$rc" -eq 1 ] && grep -qF "would leave none to train on" "$out/err" || { echo "--val-size 60000 (rc $rc):"; cat "$out/err"; exit 1; }

# The same seed on the same number of threads trains the same bits.
"$bin" --epochs 1 --seed 3 --threads 2 --out "$out/again" >/dev/null
for f in model.safetensors optimizer.safetensors; do
  cmp -s "$out/run/$f" "$out/again/$f" || { echo "two runs with --seed 3 --threads 2 wrote different $f"; exit 1; }
done

# The saved weights evaluate to the same accuracy in volt and in an independent numpy forward.
# (The largest seed is a valid one: it only changes the initial weights, which --load replaces.)
"$bin" --load "$out/run/model.safetensors" --epochs 0 --seed 18446744073709551615 --out "$out/eval" \
  --summary-json "$out/eval.json" >/dev/null
python3 - "$out/summary.json" "$out/eval.json" <<'PY'
import json, sys
a, b = (json.load(open(p))["test_accuracy"] for p in sys.argv[1:3])
sys.exit(0 if a == b else f"--load --epochs 0 gave {b}, training ended at {a}")
PY
python3 "$src/scripts/check_fashion_mnist_model.py" "$out/run/model.safetensors" "$data" --expect "$accuracy"

# Each mixed precision trains an epoch to the same standard, and its weights stay f32: the
# numpy forward reads them as PyTorch would and gets the accuracy volt reported.
for precision in bf16-mixed 16-mixed; do
  "$bin" --epochs 1 --seed 3 --threads 2 --precision "$precision" --out "$out/$precision" \
    --summary-json "$out/$precision.json" >"$out/$precision.log"
  acc=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['test_accuracy'])" "$out/$precision.json")
  python3 -c "import sys; a=float(sys.argv[1]); sys.exit(0 if a >= 0.78 else 1)" "$acc" ||
    { echo "one epoch at $precision reached only $acc"; exit 1; }
  grep -q "precision $precision" "$out/$precision.log" || { echo "the log does not name $precision"; exit 1; }
done
python3 "$src/scripts/check_fashion_mnist_model.py" "$out/16-mixed/model.safetensors" "$data"

# DistributedDataParallel over two ranks: an epoch to the same standard, rank 0's files.
if command -v mpirun >/dev/null; then
  mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -np 2 \
    "$bin" --strategy ddp --epochs 1 --seed 3 --threads 1 --out "$out/ddp" --summary-json "$out/ddp.json" \
    >"$out/ddp.log" 2>&1 || { echo "the 2-rank ddp run failed:"; cat "$out/ddp.log"; exit 1; }
  python3 - "$out/ddp.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["world_size"] == 2 and s["test_accuracy"] >= 0.78 else f"ddp over 2 ranks: {s}")
PY
  grep -q "ddp over 2 ranks (global batch 128)" "$out/ddp.log" || { echo "the ddp log does not say so"; exit 1; }
  python3 "$src/scripts/check_fashion_mnist_model.py" "$out/ddp/model.safetensors" "$data"
fi

# DataParallel over two CPU replicas: an epoch to the same standard, the network's own files
# (the same names as without dp), and the same bits from a second run.
"$bin" --strategy dp --devices cpu,cpu --epochs 1 --seed 3 --threads 2 --out "$out/dp" \
  --summary-json "$out/dp.json" >"$out/dp.log"
python3 - "$out/dp.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if s["replica_devices"] == ["cpu", "cpu"] and s["test_accuracy"] >= 0.78 else f"dp over cpu,cpu: {s}")
PY
grep -q "dp over 2 devices (cpu,cpu)" "$out/dp.log" || { echo "the dp log does not say so"; exit 1; }
python3 "$src/scripts/check_fashion_mnist_model.py" "$out/dp/model.safetensors" "$data"
"$bin" --strategy dp --devices cpu,cpu --epochs 1 --seed 3 --threads 2 --out "$out/dp-again" >/dev/null
cmp -s "$out/dp/model.safetensors" "$out/dp-again/model.safetensors" ||
  { echo "two dp runs with --seed 3 wrote different weights"; exit 1; }

# --strategy dp with a count: that many CPU replicas with --device cpu.
"$bin" --strategy dp --devices 2 --device cpu --epochs 1 --seed 3 --threads 2 --limit-train-batches 50 \
  --out "$out/dp2" >"$out/dp2.log"
grep -q "dp over 2 devices (cpu,cpu)" "$out/dp2.log" || { echo "--devices 2 --device cpu:"; cat "$out/dp2.log"; exit 1; }

# --fast-dev-run: a few batches of each loop, nothing written.
"$bin" --fast-dev-run 3 --threads 2 --out "$out/fast" >"$out/fast.log"
grep -q "fast-dev-run: 3 steps ran; nothing written" "$out/fast.log" || { echo "--fast-dev-run 3:"; cat "$out/fast.log"; exit 1; }
[ ! -e "$out/fast/model.safetensors" ] || { echo "--fast-dev-run wrote a model"; exit 1; }

# Exact resume. Two epochs of small batches, a checkpoint every 700 steps; one run is killed
# with SIGKILL once its first checkpoint is there, another gets SIGTERM (it checkpoints and
# exits 0); each, resumed with --ckpt-path last, ends with the uninterrupted run's bytes.
resume=(--epochs 2 --batch-size 8 --seed 5 --threads 1 --checkpoint-every-n-steps 700)
"$bin" "${resume[@]}" --out "$out/whole" >/dev/null
interrupt() {  # interrupt SIGNAL DIR: starts a run, sends SIGNAL after its first checkpoint
  local signal=$1 dir=$2 pid rc=0
  "$bin" "${resume[@]}" --out "$dir" >"$dir.log" 2>&1 &
  pid=$!
  until [ -L "$dir/checkpoints/last" ] || ! kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  kill "-$signal" "$pid" 2>/dev/null || true
  wait "$pid" || rc=$?
  ! grep -q "^done in" "$dir.log" || { echo "the run ended before the $signal"; exit 1; }
  return "$rc"
}
rc=0
interrupt KILL "$out/killed" || rc=$?
[ "$rc" -eq 137 ] || { echo "the killed run exited $rc"; cat "$out/killed.log"; exit 1; }
rc=0
interrupt TERM "$out/term" || rc=$?
[ "$rc" -eq 0 ] || { echo "SIGTERM: the run exited $rc, expected 0:"; cat "$out/term.log"; exit 1; }
grep -q "SIGTERM: stopped after step .* Resume with the same flags and --ckpt-path last" "$out/term.log" ||
  { echo "SIGTERM: no message saying how to resume:"; cat "$out/term.log"; exit 1; }
for dir in killed term; do
  "$bin" "${resume[@]}" --out "$out/$dir" --ckpt-path last >"$out/$dir-resumed.log" 2>&1 ||
    { echo "resuming the $dir run failed:"; cat "$out/$dir-resumed.log"; exit 1; }
  cmp -s "$out/whole/model.safetensors" "$out/$dir/model.safetensors" ||
    { echo "the $dir run, resumed, ended with other weights than the uninterrupted run"; exit 1; }
  cmp -s "$out/whole/optimizer.safetensors" "$out/$dir/optimizer.safetensors" ||
    { echo "the $dir run, resumed, ended with another optimizer state"; exit 1; }
  [ "$(cut -d, -f1 "$out/$dir/metrics.csv" | tr '\n' ' ')" = "epoch 1 2 " ] ||
    { echo "the $dir run's metrics.csv after the resume:"; cat "$out/$dir/metrics.csv"; exit 1; }
done

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
