#!/usr/bin/env bash
# volt beside PyTorch on one GPU, in one call (about two minutes on an H200; it stops starting new
# steps after VOLT_SIDE_BY_SIDE_BUDGET seconds, default 270):
#   1. the main job's training step (SimpleNet 784-100-10, ReLU, dropout 0.5, cross-entropy,
#      Adam 1e-3, random data on the GPU) at batch 64 and 1024, eager and as one CUDA graph:
#      volt's bench/step_time (with --cuda-graph for the graph) and PyTorch's
#      bench/side_by_side_step.py (torch.cuda.graph, capturable Adam), 3 rounds each, medians;
#   1b. the main job for 10 epochs beside PyTorch's eager loop, data on the GPU for both
#      (bench/side_by_side_cpu.py --device cuda; Fashion-MNIST from $VOLT_FASHION_MNIST_DIR);
#   1c. the step at batch 131072 in 32-true, bf16-mixed and 16-mixed beside torch.autocast
#      (bench/side_by_side_gpu.py, issue 10's figure);
#   2. the kernel lab (bench/kernels/: relu, dropout, cross_entropy; each version checked against
#      volt's CPU twin, then timed beside the byte floor) and bench/kernels/torch_kernels.py;
#   3. a table of volt/PyTorch time ratios (below 1: volt is faster).
# Run from the repository root after a build (the CUDA backend on, benchmarks built):
#   bench/gpu_side_by_side.sh [BUILD_DIR]      (default: build)
# Everything printed also goes to $OUT/gpu_side_by_side.log when $OUT is set, and every number to
# $OUT/side_by_side.json (one JSON object per line). Exits 1 if a kernel-lab version disagreed
# with the CPU or a step failed, 0 otherwise.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

build=${1:-build}
budget=${VOLT_SIDE_BY_SIDE_BUDGET:-270}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PYTHONUNBUFFERED=1

failed=()
skipped=()
# Seconds left in the budget; a step with fewer than $1 seconds left is skipped.
left() { echo $((budget - SECONDS)); }
# Runs "$@" under a timeout of min($1, what is left); says so and returns 125 (skipped, not a
# failure) when out of time.
bounded() {
  local limit=$1
  shift
  local remaining
  remaining=$(left)
  if [ "$remaining" -lt 10 ]; then
    echo "   skipped: the ${budget} s budget is spent ($*)"
    skipped+=("$*")
    return 125
  fi
  [ "$remaining" -lt "$limit" ] && limit=$remaining
  timeout -k 10 "$limit" "$@"
}

main() {
  echo "== gpu_side_by_side: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'), build dir $build"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
  else
    echo "nvidia-smi not found"
  fi
  python3 -c 'import torch; print("python3:", torch.__version__, "CUDA", torch.version.cuda)' 2>&1 || true

  # --- 1. the training step --------------------------------------------------------------------
  echo
  echo "== 1. SimpleNet training step, ms/step (wall clock over 200 steps after 20, median of 3 rounds)"
  local step_time=$build/bench/step_time
  if [ -x "$step_time" ]; then
    for batch in 64 1024; do
      for mode in eager graph; do
        local flags=(--device cuda --batch "$batch" --steps 200 --warmup 20)
        [ "$mode" = graph ] && flags=(--cuda-graph "${flags[@]}")
        for round in 1 2 3; do
          if bounded 60 "$step_time" "${flags[@]}" >"$work/out" 2>"$work/err"; then
            local line
            line=$(tail -n 1 "$work/out")
            echo "   volt step_time ${flags[*]}: $line"
            python3 - "$line" "$mode" "$round" >>"$work/volt_step.json" <<'PY' || echo "   (unreadable: $line)"
import json, sys
row = json.loads(sys.argv[1])
mode = sys.argv[2]
if mode == "graph" and row.get("cuda_graph") is not True:
    print(f"   warning: step_time was asked for --cuda-graph but its JSON says cuda_graph={row.get('cuda_graph')}",
          file=sys.stderr)
row.update(impl="volt", mode=mode, round=int(sys.argv[3]))
print(json.dumps(row))
PY
          else
            local rc=$?
            [ "$rc" -eq 125 ] && break  # out of time: said, not a failure
            if [ "$mode" = graph ] && grep -q -- "--cuda-graph" "$work/err"; then
              echo "   volt step_time refused --cuda-graph (the graph rows stay empty): $(tail -n 1 "$work/err")"
              failed+=("step_time --cuda-graph refused")
              break
            fi
            echo "   volt step_time ${flags[*]} failed (exit $rc): $(tail -n 3 "$work/err")"
            failed+=("step_time batch $batch $mode")
            break
          fi
        done
      done
    done
  else
    echo "   $step_time not found: build the benchmarks first (cmake --build $build --target step_time)"
    failed+=("step_time missing")
  fi
  echo "   PyTorch (bench/side_by_side_step.py):"
  bounded 120 python3 bench/side_by_side_step.py --batches 64,1024 --modes eager,graph --steps 200 --warmup 20 \
    --rounds 3 --json "$work/torch_step.json" 2>&1 | sed 's/^/   /'
  local torch_rc=${PIPESTATUS[0]}
  if [ "$torch_rc" -ne 0 ] && [ "$torch_rc" -ne 125 ]; then
    echo "   side_by_side_step.py failed"
    failed+=("side_by_side_step.py")
  fi

  # --- 1b. the main job, 10 epochs ----------------------------------------------------------------
  echo
  echo "== 1b. the main job: 10 epochs, batch 64, Adam 1e-3, data on the GPU; volt (graphed) beside PyTorch's eager loop"
  local data_dir=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
  if [ -f "$data_dir/train-images-idx3-ubyte.gz" ] && [ -x "$build/examples/fashion_mnist" ]; then
    bounded 150 python3 bench/side_by_side_cpu.py --device cuda --volt "$build/examples/fashion_mnist" \
      --data "$data_dir" --epochs 10 --runs 1 2>&1 | sed 's/^/   /'
    local job_rc=${PIPESTATUS[0]}
    if [ "$job_rc" -ne 0 ] && [ "$job_rc" -ne 125 ]; then failed+=("main job beside PyTorch"); fi
  else
    echo "   skipped: no Fashion-MNIST in $data_dir (set VOLT_FASHION_MNIST_DIR) or no $build/examples/fashion_mnist"
  fi

  # --- 1c. the step at batch 131072 in each precision ------------------------------------------------
  echo
  echo "== 1c. the step at batch 131072: 32-true (TF32), bf16-mixed, 16-mixed, volt beside torch.autocast"
  if [ -x "$step_time" ]; then
    bounded 150 python3 bench/side_by_side_gpu.py --volt "$step_time" --batch 131072 --rounds 2 2>&1 | sed 's/^/   /'
    local mixed_rc=${PIPESTATUS[0]}
    if [ "$mixed_rc" -ne 0 ] && [ "$mixed_rc" -ne 125 ]; then failed+=("side_by_side_gpu.py"); fi
  fi

  # --- 2. the kernel lab -----------------------------------------------------------------------
  echo
  echo "== 2. kernel lab (bench/kernels, docs/kernel_lab.md)"
  local lab=$build/bench/kernels
  run_lab() {
    local program=$1
    shift
    if [ ! -x "$lab/$program" ]; then
      echo "   $lab/$program not found (build target kernel_lab_$program)"
      failed+=("kernel lab $program missing")
      return
    fi
    echo "-- $program $*"
    bounded 120 "$lab/$program" "$@" --json "$work/lab.json"
    local rc=$?
    case $rc in
      0) ;;
      1) failed+=("kernel lab $program: a version disagreed with the CPU twin, or an error (see above)") ;;
      124) failed+=("kernel lab $program: timed out") ;;
      125) ;;  # skipped for time, said above
      2) failed+=("kernel lab $program: no usable GPU (exit 2)") ;;
      *) failed+=("kernel lab $program: exit $rc") ;;
    esac
  }
  run_lab relu --dtype f32,bf16
  run_lab dropout --dtype f32
  run_lab cross_entropy --dtype f32,bf16
  echo "-- torch_kernels.py"
  bounded 120 python3 bench/kernels/torch_kernels.py --json "$work/torch_kernels.json"
  local kernels_rc=$?
  if [ "$kernels_rc" -ne 0 ] && [ "$kernels_rc" -ne 125 ]; then failed+=("torch_kernels.py"); fi

  # --- 3. ratios ---------------------------------------------------------------------------------
  echo
  echo "== 3. volt / PyTorch (time ratios; below 1 means volt is faster)"
  cat "$work"/*.json 2>/dev/null >"$work/all.jsonl"
  python3 - "$work/all.jsonl" <<'PY'
import json, statistics, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        try:
            rows.append(json.loads(line))
        except ValueError:
            pass

print("training step, ms/step")
print(f"  {'batch':>6} {'mode':<6} {'volt':>9} {'pytorch':>9} {'volt/pytorch':>13}")
for batch in (64, 1024):
    for graph in (False, True):
        mode = "graph" if graph else "eager"
        volt = [r["ms_per_step"] for r in rows if r.get("impl") == "volt" and r.get("batch") == batch
                and r.get("mode") == mode]
        torch = [r["ms_per_step"] for r in rows if r.get("impl") == "pytorch" and r.get("batch") == batch
                 and r.get("cuda_graph") == graph and "ms_per_step" in r]
        v = statistics.median(volt) if volt else None
        t = statistics.median(torch) if torch else None
        fmt = lambda x: f"{x:9.4f}" if x is not None else f"{'-':>9}"
        ratio = f"{v / t:13.2f}" if v and t else f"{'-':>13}"
        print(f"  {batch:>6} {mode:<6} {fmt(v)} {fmt(t)} {ratio}")

print("kernels, us (median); the ratios are over PyTorch's time")
print(f"  {'op':<14} {'dtype':<5} {'volt':>9} {'best version here':<32} {'its us':>9} {'cuDNN':>9} {'pytorch':>9}"
      f" {'volt/pt':>8} {'best/pt':>8}")


def cell(x, width, digits=1):
    return f"{x:{width}.{digits}f}" if x is not None else "-".rjust(width)


for op, dtype in sorted({(r["op"], r["dtype"]) for r in rows if "op" in r}):
    mine = [r for r in rows if r.get("op") == op and r.get("dtype") == dtype]

    def first_us(impl):
        found = [r["us"] for r in mine if r.get("impl") == impl]
        return found[0] if found else None

    candidates = sorted((r for r in mine if r.get("impl") in ("lab", "volt")), key=lambda r: r["us"])
    best = candidates[0] if candidates else None
    v, c, t = first_us("volt"), first_us("cudnn"), first_us("pytorch")
    b = best["us"] if best else None
    print(f"  {op:<14} {dtype:<5} {cell(v, 9)} {(best['version'] if best else '-'):<32} {cell(b, 9)} {cell(c, 9)}"
          f" {cell(t, 9)} {cell(v / t if v and t else None, 8, 2)} {cell(b / t if b and t else None, 8, 2)}")
PY
  if [ -n "${OUT:-}" ]; then
    cp "$work/all.jsonl" "$OUT/side_by_side.json"
    echo "(every number: $OUT/side_by_side.json)"
  fi

  echo
  if [ ${#skipped[@]} -gt 0 ]; then
    echo "== skipped for time (VOLT_SIDE_BY_SIDE_BUDGET=${budget}):"
    printf '   %s\n' "${skipped[@]}"
  fi
  if [ ${#failed[@]} -eq 0 ]; then
    echo "== gpu_side_by_side: all steps ran, in ${SECONDS} s"
    return 0
  fi
  echo "== gpu_side_by_side: ${#failed[@]} problem(s), in ${SECONDS} s:"
  printf '   %s\n' "${failed[@]}"
  return 1
}

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  main 2>&1 | tee "$OUT/gpu_side_by_side.log"
  exit "${PIPESTATUS[0]}"
fi
main
