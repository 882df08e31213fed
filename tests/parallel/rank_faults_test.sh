#!/usr/bin/env bash
# A rank that fails in the middle of a 2-rank ddp run of the main job ends the job, in bounded
# time and with a non-zero exit, never a hang:
#   - stopped (SIGSTOP): the other rank's next collective times out (VOLT_DISTRIBUTED_TIMEOUT=2)
#     and its error names the collective and the rank that did not arrive;
#   - killed (SIGKILL): mpirun sees the dead rank and ends the other;
#   - exited early (a bad --data on rank 1 only): its error ends the job through abort_job.
# Exits 77 (CTest: skipped) without mpirun or the Fashion-MNIST files.
set -euo pipefail
bin=$1
data=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
command -v mpirun >/dev/null || { echo "skipped: no mpirun"; exit 77; }
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "skipped: no Fashion-MNIST in $data"; exit 77; }
out=$(mktemp -d)
job=
cleanup() {
  [ -n "$job" ] && kill -9 "$job" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

mpi=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -x VOLT_DISTRIBUTED_TIMEOUT=2 -np 2)
train=(--strategy ddp --epochs 1000 --threads 1 --data "$data")

# rank_pid: the process id of rank 1 of the job mpirun runs: a child of it (the job's ranks on
# this host) whose environment names rank 1.
rank_pid() {
  local p
  for p in $(pgrep -P "$job" || true); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && { echo "$p"; return; }
  done
}

# fault NAME SIGNAL: starts the job, waits until it trains (rank 0's first progress line), sends
# SIGNAL to rank 1, and checks that the job ends within 40 s with a non-zero exit.
fault() {
  local name=$1 signal=$2 pid= started=$SECONDS rc=0
  "${mpi[@]}" "$bin" "${train[@]}" --out "$out/$name" >"$out/$name.log" 2>&1 &
  job=$!
  until grep -q "epoch 1/" "$out/$name.log" 2>/dev/null; do
    kill -0 "$job" 2>/dev/null || { echo "$name: the job ended before it trained:"; cat "$out/$name.log"; exit 1; }
    [ $((SECONDS - started)) -lt 60 ] || { echo "$name: no progress line in 60 s:"; cat "$out/$name.log"; exit 1; }
    sleep 0.2
  done
  pid=$(rank_pid)
  [ -n "$pid" ] || { echo "$name: rank 1's process not found"; exit 1; }
  kill "-$signal" "$pid"
  local sent=$SECONDS
  while kill -0 "$job" 2>/dev/null; do
    if [ $((SECONDS - sent)) -ge 40 ]; then
      echo "$name: the job still runs 40 s after rank 1 got SIG$signal (a hang):"
      cat "$out/$name.log"
      exit 1
    fi
    sleep 0.2
  done
  wait "$job" || rc=$?
  job=
  [ "$rc" -ne 0 ] || { echo "$name: the job exited 0 after rank 1 got SIG$signal"; cat "$out/$name.log"; exit 1; }
  echo "$name: the job ended $((SECONDS - sent)) s after SIG$signal, exit $rc"
}

fault stopped STOP
for want in "did not complete within 2000 ms" "on rank 0 of 2" "rank 1 did not arrive" "abort_job"; do
  grep -qF "$want" "$out/stopped.log" || { echo "stopped: the error does not say \"$want\":"; cat "$out/stopped.log"; exit 1; }
done

tr "\r" "\n" <"$out/stopped.log" | grep -m1 -F "did not complete"

fault killed KILL

# Rank 1 alone fails before training (its --data names no folder): rank 0 must not wait for it.
rc=0
start=$SECONDS
timeout 60 "${mpi[@]:0:${#mpi[@]}-2}" -np 1 "$bin" "${train[@]}" --out "$out/early" : \
  -np 1 "$bin" --strategy ddp --epochs 1000 --threads 1 --data "$out/no-data" --out "$out/early" >"$out/early.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || { echo "early: exit $rc (124: a hang):"; cat "$out/early.log"; exit 1; }
grep -qF "no-data" "$out/early.log" || { echo "early: the failing rank's error is missing:"; cat "$out/early.log"; exit 1; }
echo "early: the job ended $((SECONDS - start)) s after start, exit $rc"
