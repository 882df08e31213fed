// The sweep tests' trial program, a shell script.
#pragma once

namespace volt::testing {

// A stand-in for a training program: --score S is its metric at every epoch, --epochs N rows,
// --fail yes exits 3 after a message on stderr, --nan-at K writes nan at epoch K; it sleeps
// $SWEEP_TEST_SLEEP seconds between epochs, and logs each start to runs.log beside its folder.
// --layout lightning writes a CSVLogger's file instead (lightning_logs/version_0/metrics.csv:
// step,epoch,train_loss,test_accuracy, two training rows without the metric an epoch).
inline const char* kFakeTrial = R"(#!/bin/sh
out= score=1 epochs=1 fail=no nan=0 layout=plain
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2 ;; --score) score=$2 ;; --epochs) epochs=$2 ;; --fail) fail=$2 ;; --nan-at) nan=$2 ;; --layout) layout=$2 ;;
    *) echo "fake trial: unknown flag $1" >&2; exit 2 ;;
  esac
  shift 2
done
mkdir -p "$out"
echo "$(basename "$out") threads=$VOLT_NUM_THREADS gpu=${CUDA_VISIBLE_DEVICES:-none} rank=$VOLT_SWEEP_RANK mpi=${OMPI_COMM_WORLD_SIZE:-none}" >> "$(dirname "$out")/runs.log"
if [ "$fail" = yes ]; then echo "fake trial: told to fail" >&2; exit 3; fi
csv=$out/metrics.csv
if [ "$layout" = lightning ]; then
  mkdir -p "$out/lightning_logs/version_0"
  csv=$out/lightning_logs/version_0/metrics.csv
  echo "step,epoch,train_loss,test_accuracy" > "$csv"
else
  echo "epoch,train_loss,test_accuracy" > "$csv"
fi
e=1
while [ $e -le $epochs ]; do
  v=$score
  [ "$e" = "$nan" ] && v=nan
  if [ "$layout" = lightning ]; then
    printf '%s\n' "$((e * 10 - 5)),$((e - 1)),0.7," "$((e * 10)),$((e - 1)),0.6," "$((e * 10)),$((e - 1)),,$v" >> "$csv"
  else
    echo "$e,0.5,$v" >> "$csv"
  fi
  sleep ${SWEEP_TEST_SLEEP:-0}
  e=$((e + 1))
done
)";

}  // namespace volt::testing
